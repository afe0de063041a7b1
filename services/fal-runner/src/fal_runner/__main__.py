"""``python -m fal_runner``."""

from __future__ import annotations

import asyncio
import sys

from medialab_runtime.provisioning import LayoutConfig
from medialab_runtime.service import run_service
from medialab_runtime.slots import KeySpecError

from fal_runner.service import DIST, NAME, setup
from fal_runner.settings import FalRunnerSettings


def main() -> None:
    settings = FalRunnerSettings()
    try:
        settings.provider_keys()
    except KeySpecError as error:  # its message names entries by position, never a key
        print(f"{NAME}: bad FAL_KEYS: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    layout = LayoutConfig(
        media_ttl_s=settings.media_ttl_s,
        events_max_age_s=settings.events_max_age_s,
        slots_ttl_s=settings.slot_lease_s,
    )
    asyncio.run(run_service(NAME, settings, setup, layout=layout, dist=DIST))


if __name__ == "__main__":
    main()
