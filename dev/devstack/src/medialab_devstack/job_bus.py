"""A test's side of the job pipeline: store inputs, publish jobs, collect every job event.

For tests that drive a runner directly, without the gateway or billing in front of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import nats
from medialab_contracts import subjects
from medialab_contracts.events import JobEvent, JobFailed, JobProgress, JobSucceeded, parse_job_event
from medialab_contracts.jobs import JobRequest
from medialab_contracts.media import MediaRef
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from nats.aio.client import Client


@dataclass
class JobBus:
    nc: Client
    media: MediaStore
    events: dict[str, list[JobEvent]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @classmethod
    @asynccontextmanager
    async def connect(cls, nats_url: str, layout: LayoutConfig) -> AsyncIterator[Self]:
        """Connected, with the JetStream layout created first (so ``layout``'s TTLs are the ones
        in force), and subscribed to every job event."""
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await ensure_layout(js, layout)
            bus = cls(nc, await MediaStore.open(js))
            await nc.subscribe(subjects.ALL_JOB_EVENTS_FILTER, cb=bus.on_event)
            yield bus
        finally:
            await nc.close()

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
        """The job's first final event: a test that wants to see a duplicate looks at ``events``."""
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
