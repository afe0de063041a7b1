"""Helpers of fal-runner's tests: keys, test jobs, and the NATS side of a test (``Bus``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fal_runner.settings import FalRunnerSettings
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.media import MediaRef
from medialab_devstack.job_bus import JobBus

KEY = "runner-key:secret-one"
OTHER_KEY = "runner-key:secret-two"
THIRD_KEY = "runner-key:secret-three"
CATALOG = default_catalog()


def make_job(model_key: str, *, inputs: list[MediaRef] | None = None, **fields: Any) -> JobRequest:
    model = CATALOG.by_key(model_key)
    mode = next(iter(sorted(model.modes))) if model.modes else "create"
    values: dict[str, Any] = {
        "user_id": 7,
        "chat_id": 7,
        "mode": mode,
        "runner": model.runner,
        "model_key": model.key,
        "model_id": model.model_id,
        "price": model.price,
        "prompt": "a red fox in the snow",
        "inputs": inputs or [],
    }
    return JobRequest.model_validate({**values, **fields})


# Nothing fal-specific on the NATS side of these tests.
Bus = JobBus

RunnerFactory = Callable[..., Awaitable[FalRunnerSettings]]
