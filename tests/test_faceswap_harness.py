"""Helpers of the M6 cross-service tests (no tests here): wavespeed-runner and billing as processes
configured by environment only, a real nats-server, the WaveSpeed emulator in this event loop."""

from __future__ import annotations

import asyncio
import io
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
from medialab_devstack.stack import ServiceProcess
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_sandbox.wavespeed import EmulatorConfig, WaveSpeedEmulator
from nats.aio.client import Client
from nats.aio.msg import Msg
from PIL import Image

KEY = "faceswap-e2e-key-0123456789abcdef"
USER_ID = 4242
FACE_SWAP = default_catalog().for_mode(Mode.faceswap)[0]
TARGET_SIZE = (96, 64)


def png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def runner_env(nats_url: str, emu: WaveSpeedEmulator, **extra: str) -> dict[str, str]:
    """Everything wavespeed-runner needs, as a deployment would give it: environment variables."""
    return {
        "NATS_URL": nats_url,
        "LOG_FORMAT": "text",
        "WAVESPEED_API_KEY": KEY,
        "WAVESPEED_API_BASE": emu.base_url,
        "WAVESPEED_OUTPUT_HOSTS": "127.0.0.1",
        "WAVESPEED_POLL_INTERVAL_S": "0.2",
        "WAVESPEED_POLL_MAX_S": "0.5",
        "WAVESPEED_RETRY_BASE_S": "0.05",
        "SLOT_POLL_S": "0.2",
        "SHUTDOWN_GRACE_S": "1",
        **extra,
    }


async def start_process(process: ServiceProcess) -> ServiceProcess:
    process.start()
    # wait_ready blocks; the emulator serves from this event loop, so wait in a thread.
    await asyncio.to_thread(process.wait_ready, 60)
    return process


@dataclass
class FaceSwapStack:
    nc: Client
    emu: WaveSpeedEmulator
    media: MediaStore
    logs: Path
    nats_url: str
    processes: list[ServiceProcess] = field(default_factory=list)
    events: dict[str, list[JobSucceeded | JobFailed]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _on_event(self, msg: Msg) -> None:
        event = parse_job_event(msg.data)
        if isinstance(event, JobSucceeded | JobFailed):
            async with self._changed:
                self.events.setdefault(event.job_id, []).append(event)
                self._changed.notify_all()

    async def start(self, name: str, env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(name, env, self.logs)
        self.processes.append(process)
        return await start_process(process)

    async def start_runner(self, **extra: str) -> ServiceProcess:
        return await self.start("wavespeed-runner", runner_env(self.nats_url, self.emu, **extra))

    async def job(self, tag: str, **fields: object) -> JobRequest:
        face = await self.media.put(f"in/{tag}-face.png", png((40, 40), (250, 220, 180)), "image/png")
        target = await self.media.put(f"in/{tag}-target.png", png(TARGET_SIZE, (200, 80, 40)), "image/png")
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
    nats_url: str, logs: Path, processing_seconds: float = 0.2
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
        stack = FaceSwapStack(nc, emu, await MediaStore.open(js), logs, nats_url)
        await nc.subscribe(subjects.ALL_JOB_EVENTS_FILTER, cb=stack._on_event)

        async def stop_all() -> None:
            await asyncio.gather(*(asyncio.to_thread(p.stop, 10) for p in stack.processes))

        cleanup.push_async_callback(stop_all)
        yield stack
