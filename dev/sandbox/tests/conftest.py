"""Fixtures shared by the emulator tests: one running emulator per test module.

Starting and stopping uvicorn costs ~0.2 s, so each module serves all its tests from one
emulator (``loop_scope="module"``), reset before each test where the emulator can be reset.
``<prefix>_unstarted`` builds that emulator: the defaults here accept the module's ``KEY``
(fal, WaveSpeed) or turn flood control off (Telegram); a module that needs other keys or
settings overrides it with its own module-scoped fixture.
Names carry the test files' prefixes (falemu, wsemu, tgemu) so they cannot clash with a
test's own fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.telegram import EmulatorConfig as TelegramConfig
from medialab_sandbox.telegram import RateLimitConfig, TelegramEmulator
from medialab_sandbox.wavespeed import EmulatorConfig as WaveSpeedConfig
from medialab_sandbox.wavespeed import WaveSpeedEmulator
from medialab_sandbox.wavespeed.testing import api_client

# ----- fal ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def falemu_unstarted(request: pytest.FixtureRequest) -> FalEmulator:
    return FalEmulator(keys=[request.module.KEY])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def falemu_server(falemu_unstarted: FalEmulator) -> AsyncIterator[FalEmulator]:
    """The module's fal emulator, running; state left over from earlier tests."""
    async with falemu_unstarted as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module")
async def falemu(falemu_server: FalEmulator) -> FalEmulator:
    """The module's fal emulator, reset to fresh for this test."""
    falemu_server.reset()
    return falemu_server


@pytest.fixture(scope="module")
def falemu_http_timeout() -> float:
    """Seconds ``falemu_http`` waits per request; a module of slower calls overrides it."""
    return 5.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def falemu_http(falemu_http_timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=falemu_http_timeout) as client:
        yield client


# ----- WaveSpeed ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wsemu_unstarted(request: pytest.FixtureRequest) -> WaveSpeedEmulator:
    return WaveSpeedEmulator([request.module.KEY], config=WaveSpeedConfig(processing_seconds=0.01))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def wsemu_server(wsemu_unstarted: WaveSpeedEmulator) -> AsyncIterator[WaveSpeedEmulator]:
    """The module's WaveSpeed emulator, running; state left over from earlier tests."""
    async with wsemu_unstarted as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module")
async def wsemu(wsemu_server: WaveSpeedEmulator) -> WaveSpeedEmulator:
    """The module's WaveSpeed emulator, reset to fresh for this test."""
    await wsemu_server.reset()
    return wsemu_server


@pytest_asyncio.fixture(loop_scope="module")
async def wsemu_api(
    wsemu: WaveSpeedEmulator, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the reset emulator's API, authorised with the test module's ``KEY``."""
    async with api_client(wsemu, request.module.KEY) as client:
        yield client


# ----- Telegram -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tgemu_unstarted() -> TelegramEmulator:
    """Flood control off: only the flood tests want 429s."""
    return TelegramEmulator(config=TelegramConfig(rate_limits=RateLimitConfig(enabled=False)))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tgemu(tgemu_unstarted: TelegramEmulator) -> AsyncIterator[TelegramEmulator]:
    """The module's Telegram emulator, running (it has no reset: tests use fresh users)."""
    async with tgemu_unstarted as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tgemu_bot(tgemu: TelegramEmulator) -> AsyncIterator[Bot]:
    """An aiogram bot of the emulator's default token, talking to it over HTTP."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(tgemu.base_url))
    yield Bot(tgemu.token, session=session)
    await session.close()
