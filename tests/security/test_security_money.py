"""Billing owns money: attacks of issue 17 on prices, top-ups and unpaid jobs, against the real billing.

billing runs as its own process with its own NATS user and a real PostgreSQL; the attacker holds the
gateway's NATS credentials (the user that may talk to billing at all) and sends what it likes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    EnsureUserRequest,
    ReserveReply,
    ReserveRequest,
    TopupReply,
    TopupRequest,
)
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import BadRequest, InsufficientFunds, NotAdmin, TooManyJobs
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_contracts.modes import Mode
from medialab_contracts.promo import (
    PromoCreateRequest,
    PromoOutcome,
    PromoRedeemReply,
    PromoRedeemRequest,
    PromoView,
    ReferralReply,
    ReferralRequest,
    StatsReply,
    StatsRequest,
)
from medialab_devstack.nats_server import NatsServer
from medialab_devstack.stack import ServiceProcess
from medialab_runtime.nats_conn import inbox_prefix
from medialab_runtime.rpc import call
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

# tests/security/conftest.py: a client of one user and the permission errors the server sent it.
ConnectAs = Callable[[str], Awaitable[tuple[Client, Any]]]

ADMIN_ID = 1001
USER = 4242
WELCOME = 3000


@pytest.fixture
async def billing(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    process = ServiceProcess(
        "billing",
        {"NATS_URL": nats_server.url, "DATABASE_URL": database_url, "ADMIN_IDS": f"[{ADMIN_ID}]"},
        tmp_path,
    )
    process.start()
    try:
        await asyncio.to_thread(process.wait_ready)
        yield process
    finally:
        process.stop()


@pytest.fixture
async def gateway(nats_server: NatsServer, billing: ServiceProcess) -> AsyncIterator[Client]:
    """A client holding the gateway's credentials: the strongest position an attacker on the bus gets."""
    nc = await nats.connect(
        nats_server.plain_url,
        user="gateway-bot",
        password=nats_server.passwords["gateway-bot"],
        inbox_prefix=inbox_prefix("gateway-bot"),
    )
    await call(nc, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=USER), BalanceView, 10)
    yield nc
    await nc.close()


def nano_banana_job() -> JobRequest:
    return default_catalog().by_key("nb").job(Mode.create, user_id=USER, chat_id=USER, prompt="кот")


async def queued_jobs(nats_server: NatsServer) -> int:
    admin = await nats.connect(nats_server.url)
    try:
        return (await admin.jetstream().stream_info(subjects.JOBS_STREAM)).state.messages
    finally:
        await admin.close()


async def balance(nc: Client) -> BalanceView:
    return await call(nc, subjects.BILLING_BALANCE, BalanceRequest(user_id=USER), BalanceView, 10)


@pytest.mark.parametrize("price", [0, 1, 799, 801])
async def test_a_job_at_another_price_than_billings_is_refused_and_not_queued(
    nats_server: NatsServer, gateway: Client, price: int
) -> None:
    job = nano_banana_job().model_copy(update={"price": price})
    with pytest.raises(BadRequest):
        await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, 10)
    assert (await balance(gateway)).available == WELCOME
    assert await queued_jobs(nats_server) == 0


async def test_a_resolution_is_priced_by_billing_not_by_the_request(
    nats_server: NatsServer, gateway: Client
) -> None:
    pro = default_catalog().by_key("nbp")
    four_k = pro.job(Mode.create, USER, USER, prompt="кот", size=ImageSize(width=4096, height=4096))
    assert four_k.price == 4800  # fal bills 4K at twice the price
    with pytest.raises(BadRequest):  # a 4K job at the 1K price
        await call(
            gateway,
            subjects.BILLING_RESERVE,
            ReserveRequest.for_job(four_k.model_copy(update={"price": 2400})),
            ReserveReply,
            10,
        )
    with pytest.raises(InsufficientFunds):  # its right price is accepted, and exceeds the welcome credit
        await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(four_k), ReserveReply, 10)
    one_k = pro.job(Mode.create, USER, USER, prompt="кот", size=ImageSize(width=1024, height=1024))
    reply = await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(one_k), ReserveReply, 10)
    assert reply.operation.price == 2400
    assert await queued_jobs(nats_server) == 1


async def test_a_job_on_a_model_outside_the_catalog_is_refused(
    nats_server: NatsServer, gateway: Client
) -> None:
    job = nano_banana_job().model_copy(update={"model_id": "fal-ai/some-expensive-model"})
    with pytest.raises(BadRequest):
        await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, 10)
    assert await queued_jobs(nats_server) == 0


async def test_billing_queues_the_job_it_reserved(nats_server: NatsServer, gateway: Client) -> None:
    job = nano_banana_job()
    reply = await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, 10)
    assert reply.operation.price == 800
    assert await queued_jobs(nats_server) == 1


@pytest.mark.nats_violations
async def test_the_gateway_cannot_queue_a_job_billing_did_not_reserve(
    nats_server: NatsServer, gateway: Client, connect_as: ConnectAs
) -> None:
    nc, refusals = await connect_as("gateway-bot")
    job = nano_banana_job()
    await nc.publish(job.subject, job.model_dump_json().encode())
    await refusals.refused(f'publish to "{job.subject}"')
    assert await queued_jobs(nats_server) == 0


async def billing_dropped(billing: ServiceProcess, subject: str) -> None:
    """Wait until billing has dropped a message on ``subject`` that was no client's request."""
    wanted = ('service="billing"', f'endpoint="{subject}"', 'outcome="not_a_request"')
    async with httpx.AsyncClient() as http, asyncio.timeout(20):
        while True:
            metrics = (await http.get(f"{billing.health_url}/metrics")).text
            counts = [line for line in metrics.splitlines() if line.startswith("medialab_rpc_seconds_count{")]
            if any(all(label in line for label in wanted) for line in counts):
                return
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("user", ["fal-runner", "text-render", "prompt-llm"])
async def test_a_topup_a_push_consumer_delivers_to_billing_is_not_a_request(
    billing: ServiceProcess, gateway: Client, connect_as: ConnectAs, user: str
) -> None:
    """A service may write its KV bucket and read it through a push consumer, whose deliveries go to
    any subject its creator names — past its publish permissions (nats-server issue #8274). Billing
    answers only requests a client sent: a top-up naming a real admin, delivered so, credits nothing."""
    nc, _ = await connect_as(user)
    js = nc.jetstream()
    bucket = subjects.JOB_STATE_BUCKET  # every runner's: it records its jobs' progress there
    forged = TopupRequest(
        request_id=f"deputy-{user}", admin_id=ADMIN_ID, target_user_id=USER, amount=100_000_000
    )
    await (await js.key_value(bucket)).put("forged", forged.model_dump_json().encode())
    await js.add_consumer(
        f"KV_{bucket}",
        ConsumerConfig(
            deliver_subject=subjects.BILLING_TOPUP,
            deliver_group="billing",  # the queue group billing's endpoints listen in
            deliver_policy=DeliverPolicy.LAST,
            ack_policy=AckPolicy.NONE,
            filter_subject=f"$KV.{bucket}.forged",
        ),
    )
    await billing_dropped(billing, subjects.BILLING_TOPUP)
    assert (await balance(gateway)).available == WELCOME


async def test_a_forged_topup_naming_a_non_admin_is_refused(gateway: Client) -> None:
    forged = TopupRequest(request_id="forged-topup-1", admin_id=USER, target_user_id=USER, amount=100_000_000)
    with pytest.raises(NotAdmin):
        await call(gateway, subjects.BILLING_TOPUP, forged, TopupReply, 10)
    assert (await balance(gateway)).available == WELCOME


async def test_forged_promo_and_stats_requests_naming_a_non_admin_are_refused(gateway: Client) -> None:
    forged = PromoCreateRequest(admin_id=USER, code="FREEMONEY", amount=100_000_000, max_uses=1_000_000)
    with pytest.raises(NotAdmin):
        await call(gateway, subjects.BILLING_PROMO_CREATE, forged, PromoView, 10)
    redeemed = await call(
        gateway,
        subjects.BILLING_PROMO_REDEEM,
        PromoRedeemRequest(user_id=USER, code="FREEMONEY"),
        PromoRedeemReply,
        10,
    )
    assert redeemed.outcome == PromoOutcome.unknown
    with pytest.raises(NotAdmin):
        await call(gateway, subjects.BILLING_STATS, StatsRequest(admin_id=USER), StatsReply, 10)
    # Referrals are off by default: naming oneself a referrer records nothing.
    referral = ReferralRequest(user_id=USER, referrer_id=ADMIN_ID)
    assert not (await call(gateway, subjects.BILLING_REFERRAL, referral, ReferralReply, 10)).recorded
    assert (await balance(gateway)).available == WELCOME


async def test_a_user_cannot_have_more_jobs_in_flight_than_the_quota(
    nats_server: NatsServer, gateway: Client
) -> None:
    # MAX_JOBS_IN_FLIGHT defaults to 10; add-text jobs cost 1 ₽, so money is not what stops the 11th.
    text = default_catalog().by_key("txt")
    jobs = [text.job(Mode.text, user_id=USER, chat_id=USER, overlay_text="x") for _ in range(11)]
    for job in jobs[:10]:
        await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, 10)
    with pytest.raises(TooManyJobs) as refused:
        await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(jobs[10]), ReserveReply, 10)
    assert refused.value.limit == 10
    assert (await balance(gateway)).available == WELCOME - 10 * text.price
    assert await queued_jobs(nats_server) == 10
