"""A gateway dispatcher per test, built by the composition root's ``build_dispatcher``, with a recording
launcher and a fake intake, on a private nats-server with the production permissions (the gateway's
and billing's own NATS users).

One nats-server serves every flow test of the session, its layout provisioned once as the gateway
provisions it: starting a server and its JetStream assets per test would cost more than the
conversations themselves. Each test is its own bot (a fresh bot id), and every key the gateway
writes (conversation, seen updates, throttle) is per bot; flows, jobs and albums have fresh ids.
A test that makes the server log a permission violation fails, as under the plugin's ``nats_server``.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from aiogram import Bot
from aiogram.types import User
from gateway_bot.app import Buckets, build_dispatcher
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.payments import PaymentsClient
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.settings import GatewaySettings
from gateway_bot.storage.records import StatusRecords
from gateway_bot.storage.works import KeptWorks
from medialab_contracts import subjects
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.media_store import MediaStore
from medialab_runtime.nats_conn import connect
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.gateway import BillingResponder, Conversation, FakeIntake, RecordingLauncher
from medialab_testkit.telegram import RecordingSession, detach_routers
from nats.aio.client import Client
from nats.js import JetStreamContext

SERVICE = "gateway-bot"
USER = User(id=5, is_bot=False, first_name="Тест", username="tester")
_bot_ids = itertools.count(1000)
_english_ids = itertools.count(900_000)


async def _connect_as(server: NatsServer, user: str) -> Client:
    return await connect(server.plain_url, user, user=user, password=server.passwords[user])


def _settings(bot_id: int) -> GatewaySettings:
    # Not from a developer's .env: prices and limits are the defaults the tests assert.
    return GatewaySettings(_env_file=None, tg_bot_token=f"{bot_id}:TEST", album_debounce_s=0.05)


async def _provision(server: NatsServer) -> None:
    nc = await _connect_as(server, SERVICE)
    js = nc.jetstream()
    await ensure_layout(js, service=SERVICE)
    await Buckets.open(js, _settings(0))  # creates the gateway's own bucket
    await nc.close()


@pytest.fixture(scope="session")
def flows_nats() -> Iterator[NatsServer]:
    store = Path(tempfile.mkdtemp(prefix="medialab-flows-nats-"))
    server = NatsServer(store)
    server.start()
    try:
        asyncio.run(_provision(server))
        yield server
    finally:
        server.stop()
        shutil.rmtree(store, ignore_errors=True)


@pytest.fixture
def nats_server(flows_nats: NatsServer) -> Iterator[NatsServer]:
    """The session's server; fails the test that made it log a permission violation."""
    before = len(flows_nats.violations())
    yield flows_nats
    violations = flows_nats.violations()[before:]
    if violations:
        pytest.fail("NATS permission violations:\n" + "\n".join(dict.fromkeys(violations)), pytrace=False)


@pytest.fixture
async def admin_js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """The test's own client (admin), for what a runner would publish: a finished job's event."""
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
async def billing(nats_server: NatsServer) -> AsyncIterator[BillingResponder]:
    async with BillingResponder(nats_server.plain_url, nats_server.passwords["billing"]) as responder:
        yield responder


@asynccontextmanager
async def _conversation(
    server: NatsServer, launcher: RecordingLauncher, user: User
) -> AsyncIterator[Conversation]:
    bot_id = next(_bot_ids)
    settings = _settings(bot_id)
    nc = await _connect_as(server, SERVICE)
    js = nc.jetstream()
    intake = FakeIntake()
    client = BillingClient(nc, settings.billing_timeout_s)
    payments = PaymentsClient(nc, settings.payments_timeout_s)
    buckets = await Buckets.open(js, settings)
    media = await MediaStore.open(js)
    kept = await MediaStore.open(js, bucket=subjects.KEPT_BUCKET)
    progress = ProgressBoard(
        StatusRecords(buckets.gateway), settings.progress_interval_s, settings.progress_interval_group_s
    )
    works = KeptWorks(buckets.works, kept, media, float(settings.works_ttl_s))
    dp = build_dispatcher(
        settings, js, buckets, bot_id, client, payments, launcher, intake, progress=progress, works=works
    )
    session = RecordingSession()
    try:
        yield Conversation(
            dp, Bot(settings.tg_bot_token.get_secret_value(), session=session), session, intake, user
        )
    finally:
        detach_routers(dp)
        await nc.close()


@pytest.fixture
async def chat(
    nats_server: NatsServer, billing: BillingResponder, launcher: RecordingLauncher
) -> AsyncIterator[Conversation]:
    async with _conversation(nats_server, launcher, USER) as conversation:
        yield conversation


@pytest.fixture
async def english_chat(
    nats_server: NatsServer, billing: BillingResponder, launcher: RecordingLauncher
) -> AsyncIterator[Conversation]:
    """A user whose Telegram is in English (a user id of their own: the language is kept per user)."""
    user = User(id=next(_english_ids), is_bot=False, first_name="Test", language_code="en-GB")
    async with _conversation(nats_server, launcher, user) as conversation:
        yield conversation
