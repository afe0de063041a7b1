"""``python -m wavespeed_runner``: configured from the environment only."""

from __future__ import annotations

import asyncio
import sys

from medialab_runtime.provisioning import LayoutConfig
from medialab_runtime.service import run_service

from wavespeed_runner.service import DIST, NAME, setup
from wavespeed_runner.settings import MissingApiKey, WaveSpeedRunnerSettings


def main() -> None:
    settings = WaveSpeedRunnerSettings()
    try:
        settings.provider_key()
    except MissingApiKey as error:
        print(f"{NAME}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    layout = LayoutConfig(
        media_ttl_s=settings.media_ttl_s,
        events_max_age_s=settings.events_max_age_s,
        slots_ttl_s=settings.slot_lease_s,
    )
    asyncio.run(run_service(NAME, settings, setup, layout=layout, dist=DIST))


if __name__ == "__main__":
    main()
