"""A gateway dispatcher per test, built by the composition root's ``build_dispatcher`` on a private
nats-server (the gateway's and billing's own NATS users), with a recording launcher and a fake intake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from aiogram import Bot
from aiogram.types import User
from gateway_bot.app import Buckets, build_dispatcher
from gateway_bot.clients.billing import BillingClient
from gateway_bot.settings import GatewaySettings
from gateway_flowkit import BOT_ID, BillingResponder, Conversation, FakeIntake, RecordingLauncher
from gateway_testkit import detach_routers
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.nats_conn import connect
from medialab_runtime.provisioning import ensure_layout
from nats.js import JetStreamContext
from test_gateway_handlers import RecordingSession

USER = User(id=5, is_bot=False, first_name="Тест", username="tester")


@pytest.fixture
async def admin_js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """The test's own client (admin), for what a runner would publish: a finished job's event."""
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
async def billing(nats_server: NatsServer) -> AsyncIterator[BillingResponder]:
    async with BillingResponder(nats_server.plain_url, nats_server.passwords["billing"]) as responder:
        yield responder


@pytest.fixture
async def chat(
    nats_server: NatsServer, billing: BillingResponder, launcher: RecordingLauncher
) -> AsyncIterator[Conversation]:
    # Not from a developer's .env: prices and limits are the defaults the tests assert.
    settings = GatewaySettings(
        _env_file=None, tg_bot_token=f"{BOT_ID}:TEST", album_debounce_s=0.05, inputs_wait_s=10
    )
    nc = await connect(
        nats_server.plain_url,
        "gateway-bot",
        user="gateway-bot",
        password=nats_server.passwords["gateway-bot"],
    )
    js = nc.jetstream()
    await ensure_layout(js, service="gateway-bot")
    intake = FakeIntake()
    client = BillingClient(nc, settings.billing_timeout_s)
    dp = build_dispatcher(settings, js, await Buckets.open(js, settings), BOT_ID, client, launcher, intake)
    session = RecordingSession()
    try:
        yield Conversation(
            dp, Bot(settings.tg_bot_token.get_secret_value(), session=session), session, intake, USER
        )
    finally:
        detach_routers(dp)
        await nc.close()
