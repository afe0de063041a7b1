"""Helpers shared by fal-runner's tests: test jobs, images, and the NATS side of a test (``Bus``)."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fal_runner.settings import FalRunnerSettings
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import JobFailed, JobProgress, JobSucceeded, parse_job_event
from medialab_contracts.jobs import JobRequest
from medialab_contracts.media import MediaRef
from medialab_runtime.media_store import MediaStore
from nats.aio.client import Client
from PIL import Image

KEY = "runner-key:secret-one"
OTHER_KEY = "runner-key:secret-two"
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


@dataclass
class Bus:
    """The NATS side of a test: publish jobs, store inputs, read what happened to a job."""

    nc: Client
    media: MediaStore
    events: dict[str, list[Any]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def on_event(self, msg: Any) -> None:
        event = parse_job_event(msg.data)
        async with self._changed:
            self.events.setdefault(event.job_id, []).append(event)
            self._changed.notify_all()

    async def put_input(self, name: str, data: bytes) -> MediaRef:
        return await self.media.put(name, data, "application/octet-stream")

    async def publish(self, job: JobRequest) -> None:
        await self.nc.jetstream().publish(
            job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id}
        )

    def final(self, job_id: str) -> JobSucceeded | JobFailed | None:
        for event in self.events.get(job_id, []):
            if isinstance(event, JobSucceeded | JobFailed):
                return event
        return None

    def progress(self, job_id: str) -> list[JobProgress]:
        return [e for e in self.events.get(job_id, []) if isinstance(e, JobProgress)]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Wait until ``predicate`` holds, checked whenever a job event arrives."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_final(self, job_id: str, timeout: float = 15.0) -> JobSucceeded | JobFailed:
        await self.wait_until(lambda: self.final(job_id) is not None, timeout)
        final = self.final(job_id)
        assert final is not None
        return final

    async def run(self, job: JobRequest, timeout: float = 15.0) -> JobSucceeded | JobFailed:
        await self.publish(job)
        return await self.wait_final(job.job_id, timeout)


RunnerFactory = Callable[..., Awaitable[FalRunnerSettings]]
