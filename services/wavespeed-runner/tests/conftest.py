"""Fixtures of wavespeed-runner's tests: the WaveSpeed emulator, NATS, and the runner in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from medialab_contracts import subjects
from medialab_devstack.in_process import InProcessServices
from medialab_devstack.nats_server import service_settings
from medialab_runtime.provisioning import LayoutConfig
from medialab_sandbox.wavespeed import EmulatorConfig, WaveSpeedEmulator
from medialab_testkit.wavespeed import KEY, Bus, RunnerFactory
from wavespeed_runner.app import NAME, setup
from wavespeed_runner.settings import WaveSpeedRunnerSettings


@pytest.fixture
async def emu() -> AsyncIterator[WaveSpeedEmulator]:
    async with WaveSpeedEmulator([KEY], config=EmulatorConfig(processing_seconds=0.1)) as emulator:
        yield emulator


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    async with Bus.connect(nats_url, LayoutConfig(slots_ttl_s=3)) as bus:
        yield bus


def runner_settings(nats_url: str, emu: WaveSpeedEmulator, **overrides: Any) -> WaveSpeedRunnerSettings:
    values: dict[str, Any] = {
        **service_settings(nats_url, "wavespeed-runner"),
        "http_port": 0,
        "log_format": "text",
        "wavespeed_api_key": KEY,
        "wavespeed_api_base": emu.base_url,
        "wavespeed_output_hosts": "127.0.0.1",
        "wavespeed_poll_interval_s": 0.05,
        "wavespeed_poll_max_s": 0.2,
        "wavespeed_retry_base_s": 0.01,
        "wavespeed_retry_max_s": 0.05,
        # Roomy account limits unless a test is about them (the defaults are Bronze's 2 and 2/min).
        "wavespeed_max_in_progress": 10,
        "wavespeed_starts_per_minute": 1000,
        "wavespeed_start_window_s": 1.0,
        "wavespeed_lookup_grace_s": 0.05,
        "slot_poll_s": 0.2,
        "ack_wait_s": 5,
        "shutdown_grace_s": 1,
    }
    return WaveSpeedRunnerSettings(**{**values, **overrides})


@pytest.fixture
async def start_runner(nats_url: str, emu: WaveSpeedEmulator, bus: Bus) -> AsyncIterator[RunnerFactory]:
    """Start wavespeed-runner's real composition root in this event loop; ``**overrides`` tune settings."""
    async with InProcessServices(bus.nc.jetstream()) as services:

        async def start(**overrides: Any) -> WaveSpeedRunnerSettings:
            settings = runner_settings(nats_url, emu, **overrides)
            await services.start_consumer(NAME, settings, setup, subjects.WAVESPEED_RUNNER_CONSUMER)
            return settings

        yield start
