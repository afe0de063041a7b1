"""``python -m wavespeed_runner``: configured from the environment only."""

from __future__ import annotations

from medialab_runtime.runner import run_runner

from wavespeed_runner.app import DIST, NAME, setup
from wavespeed_runner.settings import MissingApiKey, WaveSpeedRunnerSettings


def main() -> None:
    settings = WaveSpeedRunnerSettings()
    run_runner(NAME, settings, setup, dist=DIST, check_keys=settings.account, key_error=MissingApiKey)


if __name__ == "__main__":
    main()
