"""Fixtures of fal-runner's tests: the fal emulator, NATS, and the runner itself in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fal_runner.app import NAME, setup
from fal_runner.settings import FalRunnerSettings
from medialab_contracts import subjects
from medialab_devstack.in_process import InProcessServices
from medialab_devstack.nats_server import service_settings
from medialab_runtime.provisioning import LayoutConfig
from medialab_sandbox.fal import FalEmulator
from medialab_testkit.fal import KEY, OTHER_KEY, THIRD_KEY, Bus, RunnerFactory


@pytest.fixture
async def fal() -> AsyncIterator[FalEmulator]:
    async with FalEmulator([KEY, OTHER_KEY, THIRD_KEY]) as emulator:
        yield emulator


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    async with Bus.connect(nats_url, LayoutConfig(slots_ttl_s=3)) as bus:
        yield bus


@pytest.fixture
async def start_runner(nats_url: str, fal: FalEmulator, bus: Bus) -> AsyncIterator[RunnerFactory]:
    """Start fal-runner's real composition root in this event loop; ``**overrides`` tune settings."""
    async with InProcessServices(bus.nc.jetstream()) as services:

        async def start(**overrides: Any) -> FalRunnerSettings:
            values: dict[str, Any] = {
                **service_settings(nats_url, "fal-runner"),
                "http_port": 0,
                "log_format": "text",
                "fal_keys": KEY,
                "fal_queue_base": fal.queue_base,
                "fal_rest_base": fal.rest_base,
                "fal_output_hosts": "127.0.0.1",
                "fal_retry_base_s": 0.01,
                "fal_retry_max_s": 0.05,
                "slot_poll_s": 0.2,
                "ack_wait_s": 5,
                "shutdown_grace_s": 1,
            }
            settings = FalRunnerSettings(**{**values, **overrides})
            await services.start_consumer(NAME, settings, setup, subjects.FAL_RUNNER_CONSUMER)
            return settings

        yield start
