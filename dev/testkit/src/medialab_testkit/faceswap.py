"""Helpers of the M6 cross-service tests: wavespeed-runner and billing as processes of the dev
launcher's ``Stack``, configured by environment only, on the test's nats-server; the WaveSpeed
emulator in this event loop (the tests read its records)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import JobFailed, JobSucceeded, parse_job_event
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode
from medialab_devstack.launcher import Stack
from medialab_devstack.stack import ServiceProcess
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_sandbox.wavespeed import EmulatorConfig, WaveSpeedEmulator
from nats.aio.client import Client
from nats.aio.msg import Msg

from medialab_testkit.images import png_bytes

KEY = "faceswap-e2e-key-0123456789abcdef"
USER_ID = 4242
FACE_SWAP = default_catalog().for_mode(Mode.faceswap)[0]
TARGET_SIZE = (96, 64)


def process_env(nats_url: str) -> dict[str, str]:
    """The processes' settings, as a deployment would give them: environment variables."""
    return {
        "NATS_URL": nats_url,
        "LOG_FORMAT": "text",
        "WAVESPEED_POLL_INTERVAL_S": "0.2",
        "WAVESPEED_POLL_MAX_S": "0.5",
        "WAVESPEED_RETRY_BASE_S": "0.05",
        "SLOT_POLL_S": "0.2",
        "SHUTDOWN_GRACE_S": "1",
    }


@dataclass
class FaceSwapStack:
    nc: Client
    emu: WaveSpeedEmulator
    media: MediaStore
    processes: Stack
    events: dict[str, list[JobSucceeded | JobFailed]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _on_event(self, msg: Msg) -> None:
        event = parse_job_event(msg.data)
        if isinstance(event, JobSucceeded | JobFailed):
            async with self._changed:
                self.events.setdefault(event.job_id, []).append(event)
                self._changed.notify_all()

    async def start(self, name: str, **env: str) -> ServiceProcess:
        # Waiting for readiness blocks; the emulator serves from this event loop, so wait in a thread.
        return await asyncio.to_thread(functools.partial(self.processes.start_service, name, 90, **env))

    async def start_runner(self, **extra: str) -> ServiceProcess:
        return await self.start("wavespeed-runner", **extra)

    async def job(self, tag: str, **fields: object) -> JobRequest:
        face = await self.media.put(f"in/{tag}-face.png", png_bytes((40, 40), (250, 220, 180)), "image/png")
        target = await self.media.put(
            f"in/{tag}-target.png", png_bytes(TARGET_SIZE, (200, 80, 40)), "image/png"
        )
        values = {
            "user_id": USER_ID,
            "chat_id": USER_ID,
            "mode": Mode.faceswap,
            "runner": FACE_SWAP.runner,
            "model_key": FACE_SWAP.key,
            "model_id": FACE_SWAP.model_id,
            "price": FACE_SWAP.price,
            "inputs": [face, target],
            **fields,
        }
        return JobRequest.model_validate(values)

    async def publish(self, job: JobRequest, *, msg_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": msg_id or job.job_id}
        await self.nc.jetstream().publish(job.subject, job.model_dump_json().encode(), headers=headers)

    async def wait_final(self, job_id: str, timeout: float = 30.0) -> JobSucceeded | JobFailed:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: job_id in self.events), timeout)
        return self.events[job_id][0]

    async def stored_finals(self, job_id: str) -> int:
        """Final events of a job kept on the EVENTS stream (duplicates are dropped there)."""
        info = await self.nc.jetstream().stream_info(
            subjects.EVENTS_STREAM, subjects_filter=f"events.job.{job_id}.*"
        )
        counts = info.state.subjects or {}
        return sum(n for subject, n in counts.items() if subject.endswith((".succeeded", ".failed")))


@asynccontextmanager
async def faceswap_stack(
    nats_url: str, data_dir: Path, processing_seconds: float = 0.2
) -> AsyncIterator[FaceSwapStack]:
    async with AsyncExitStack() as cleanup:
        emu = await cleanup.enter_async_context(
            WaveSpeedEmulator([KEY], config=EmulatorConfig(processing_seconds=processing_seconds))
        )
        nc = await nats.connect(nats_url)
        cleanup.push_async_callback(nc.close)
        js = nc.jetstream()
        # Short leases: a killed runner's slot frees itself within seconds.
        await ensure_layout(js, LayoutConfig(slots_ttl_s=3))
        processes = Stack(data_dir=data_dir, env=process_env(nats_url))
        processes.use_wavespeed(emu.base_url, KEY)
        cleanup.push_async_callback(asyncio.to_thread, processes.stop)
        stack = FaceSwapStack(nc, emu, await MediaStore.open(js), processes)
        await nc.subscribe(subjects.ALL_JOB_EVENTS_FILTER, cb=stack._on_event)
        yield stack
