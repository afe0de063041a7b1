"""Helpers shared by fal-runner's tests: test jobs, images, and the NATS side of a test (``Bus``)."""

from __future__ import annotations

import io
import os
from collections.abc import Awaitable, Callable
from typing import Any

from fal_runner.settings import FalRunnerSettings
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.media import MediaRef
from medialab_devstack.job_bus import JobBus
from PIL import Image

KEY = "runner-key:secret-one"
OTHER_KEY = "runner-key:secret-two"
THIRD_KEY = "runner-key:secret-three"
CATALOG = default_catalog()


def image_bytes(width: int, height: int, fmt: str = "PNG", *, noisy: bool = False, **params: Any) -> bytes:
    if noisy:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (200, 80, 40))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def bomb_png() -> bytes:
    """400 megapixels in a few hundred kilobytes: one bit per pixel, all zero."""
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    return buffer.getvalue()


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
