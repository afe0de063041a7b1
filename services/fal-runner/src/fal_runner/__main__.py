"""``python -m fal_runner``."""

from __future__ import annotations

from medialab_runtime.provider_keys import KeySpecError
from medialab_runtime.runner import run_runner

from fal_runner.app import DIST, NAME, setup
from fal_runner.settings import FalRunnerSettings


def main() -> None:
    settings = FalRunnerSettings()
    # KeySpecError names a bad entry by its position, never by the key.
    run_runner(
        NAME,
        settings,
        setup,
        dist=DIST,
        check_keys=settings.provider_accounts,
        key_error=KeySpecError,
        key_hint="bad FAL_KEYS: ",
    )


if __name__ == "__main__":
    main()
