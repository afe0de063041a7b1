"""Fixtures of wavespeed-runner's tests: the WaveSpeed emulator, NATS, and the runner in-process."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from medialab_contracts import subjects
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.service import run_service
from medialab_sandbox.wavespeed import EmulatorConfig, WaveSpeedEmulator
from nats.js.errors import NotFoundError
from wavespeed_runner.service import NAME, setup
from wavespeed_runner.settings import WaveSpeedRunnerSettings

# Test dirs are not packages (importlib mode): make the uniquely named helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from wsrunner_testkit import KEY, Bus, RunnerFactory


@pytest.fixture
async def emu() -> AsyncIterator[WaveSpeedEmulator]:
    async with WaveSpeedEmulator([KEY], config=EmulatorConfig(processing_seconds=0.1)) as emulator:
        yield emulator


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js, LayoutConfig(slots_ttl_s=3))
    bus = Bus(nc, await MediaStore.open(js))
    await nc.subscribe(subjects.ALL_JOB_EVENTS_FILTER, cb=bus.on_event)
    yield bus
    await nc.close()


def runner_settings(nats_url: str, emu: WaveSpeedEmulator, **overrides: Any) -> WaveSpeedRunnerSettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "http_port": 0,
        "log_format": "text",
        "wavespeed_api_key": KEY,
        "wavespeed_api_base": emu.base_url,
        "wavespeed_poll_interval_s": 0.05,
        "wavespeed_poll_max_s": 0.2,
        "wavespeed_retry_base_s": 0.01,
        "wavespeed_retry_max_s": 0.05,
        "slot_poll_s": 0.2,
        "ack_wait_s": 5,
        "shutdown_grace_s": 1,
    }
    return WaveSpeedRunnerSettings(**{**values, **overrides})


@pytest.fixture
async def start_runner(nats_url: str, emu: WaveSpeedEmulator, bus: Bus) -> AsyncIterator[RunnerFactory]:
    """Start wavespeed-runner's real composition root in this event loop; ``**overrides`` tune settings."""
    tasks: list[asyncio.Task[None]] = []

    async def start(**overrides: Any) -> WaveSpeedRunnerSettings:
        settings = runner_settings(nats_url, emu, **overrides)
        tasks.append(asyncio.create_task(run_service(NAME, settings, setup)))
        async with asyncio.timeout(10):
            while True:
                if tasks[-1].done():
                    tasks[-1].result()
                with contextlib.suppress(NotFoundError):
                    await bus.nc.jetstream().consumer_info(
                        subjects.JOBS_STREAM, subjects.WAVESPEED_RUNNER_CONSUMER
                    )
                    break
                await asyncio.sleep(0.02)
        return settings

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
