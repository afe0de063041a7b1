"""The bus is closed: attacks of issue 17 on NATS, against a nats-server with the production config.

Each service's user is tried on something it has no business doing; the server must refuse it (a
permission violation the client hears of) and nobody on the other side may receive anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import TopupRequest
from medialab_contracts.payments import YooKassaPaidRequest
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.nats_conn import inbox_prefix
from medialab_runtime.provisioning import ensure_layout
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import RePublish, SubjectTransform

# tests/security/conftest.py: a client of one user and the permission errors the server sent it.
ConnectAs = Callable[[str], Awaitable[tuple[Client, Any]]]

FORGED_TOPUP = TopupRequest(admin_id=1001, target_user_id=777, amount=100_000_000, request_id="forged-1")


async def listener(admin: Client, subject: str) -> list[bytes]:
    got: list[bytes] = []

    async def record(msg: nats.aio.msg.Msg) -> None:
        got.append(msg.data)

    await admin.subscribe(subject, cb=record)
    await admin.flush()
    return got


async def test_anonymous_and_wrong_password_clients_are_refused(nats_server: NatsServer) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(nats_server.plain_url, max_reconnect_attempts=0, allow_reconnect=False)
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(
            nats_server.plain_url,
            user="billing",
            password="guessed",
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )


@pytest.mark.nats_violations
@pytest.mark.parametrize("user", ["fal-runner", "wavespeed-runner", "text-render", "prompt-llm"])
async def test_a_forged_topup_from_a_service_never_reaches_billing(
    nats_server: NatsServer, user: str, connect_as: ConnectAs
) -> None:
    admin = await nats.connect(nats_server.url)
    received = await listener(admin, subjects.BILLING_TOPUP)
    nc, refusals = await connect_as(user)
    try:
        await nc.publish(subjects.BILLING_TOPUP, FORGED_TOPUP.model_dump_json().encode())
        await refusals.refused(f'publish to "{subjects.BILLING_TOPUP}"')
        await admin.flush()
        assert received == []
    finally:
        await nc.close()
        await admin.close()


FORGED_YOOKASSA_CREDIT = YooKassaPaidRequest(
    order_id="0" * 32, payment_id="2f8a1c3e-000f-5000-8000-1b2c3d4e5f60", amount=100_000_000, currency="RUB"
)


@pytest.mark.nats_violations
@pytest.mark.parametrize(
    ("user", "subject"),
    [
        *((user, subjects.BILLING_YOOKASSA_PAID) for user in ("gateway-bot", "fal-runner", "prompt-llm")),
        # The payments service reports YooKassa payments and nothing else that moves money.
        ("payments", subjects.BILLING_TOPUP),
        ("payments", subjects.BILLING_STARS_PAID),
        ("payments", subjects.job_subject("fal", "create")),  # type: ignore[arg-type]
    ],
)
async def test_only_the_payments_service_reports_yookassa_payments(
    nats_server: NatsServer, user: str, subject: str, connect_as: ConnectAs
) -> None:
    admin = await nats.connect(nats_server.url)
    received = await listener(admin, subject)
    nc, refusals = await connect_as(user)
    try:
        await nc.publish(subject, FORGED_YOOKASSA_CREDIT.model_dump_json().encode())
        await refusals.refused(f'publish to "{subject}"')
        await admin.flush()
        assert received == []
    finally:
        await nc.close()
        await admin.close()


@pytest.mark.nats_violations
@pytest.mark.parametrize("user", ["fal-runner", "text-render", "prompt-llm", "wavespeed-runner"])
async def test_a_runner_cannot_queue_a_job(nats_server: NatsServer, user: str, connect_as: ConnectAs) -> None:
    """A job on JOBS costs money; only the reserving side may put one there."""
    admin = await nats.connect(nats_server.url)
    await ensure_layout(admin.jetstream())
    nc, refusals = await connect_as(user)
    try:
        subject = subjects.job_subject("fal", "create")  # type: ignore[arg-type]
        await nc.publish(subject, b"{}")
        await refusals.refused(f'publish to "{subject}"')
        assert (await admin.jetstream().stream_info(subjects.JOBS_STREAM)).state.messages == 0
    finally:
        await nc.close()
        await admin.close()


@pytest.mark.nats_violations
async def test_a_service_cannot_answer_for_billing_or_read_others_replies(
    nats_server: NatsServer, connect_as: ConnectAs
) -> None:
    """Impersonating billing (subscribing to its endpoints) or sniffing another user's inbox fails."""
    nc, refusals = await connect_as("gateway-bot")
    try:
        await nc.subscribe("billing.>")
        await refusals.refused('subscription to "billing.>"')
        await nc.subscribe("_INBOX.>")
        await refusals.refused('subscription to "_INBOX.>"')
        await nc.subscribe(f"{inbox_prefix('billing')}.>")
        await refusals.refused(f'subscription to "{inbox_prefix("billing")}.>"')
    finally:
        await nc.close()


@pytest.mark.nats_violations
async def test_services_without_media_cannot_read_the_object_store(
    nats_server: NatsServer, connect_as: ConnectAs
) -> None:
    """Users' photos and results: only the services that handle images reach the media bucket."""
    admin = await nats.connect(nats_server.url)
    await ensure_layout(admin.jetstream())
    store = await admin.jetstream().object_store(subjects.MEDIA_BUCKET)
    await store.put("someones-photo", b"private")
    for user in ("billing", "prompt-llm"):
        nc, refusals = await connect_as(user)
        try:
            with pytest.raises(Exception):  # noqa: B017 - refused requests time out in nats-py
                await nc.jetstream(timeout=1).object_store(subjects.MEDIA_BUCKET)
            await refusals.refused(f"$JS.API.STREAM.INFO.OBJ_{subjects.MEDIA_BUCKET}")
        finally:
            await nc.close()
    await admin.close()


@pytest.mark.nats_violations
async def test_no_service_can_create_or_change_a_stream_it_does_not_use(
    nats_server: NatsServer, connect_as: ConnectAs
) -> None:
    nc, refusals = await connect_as("billing")
    try:
        with pytest.raises(Exception):  # noqa: B017 - refused requests time out in nats-py
            await nc.jetstream(timeout=1).add_stream(name="STEAL", subjects=["billing.>"])
        await refusals.refused("$JS.API.STREAM.CREATE.STEAL")
    finally:
        await nc.close()


# Each service with one stream it may create: changing it afterwards could add a republish or a
# subject transform, and the server would copy messages onto subjects the service may not publish to.
STREAM_OF = {
    "billing": subjects.JOBS_STREAM,
    "gateway-bot": f"KV_{subjects.FSM_BUCKET}",
    "payments": subjects.EVENTS_STREAM,
    "fal-runner": f"KV_{subjects.JOB_STATE_BUCKET}",
    "wavespeed-runner": subjects.ADVISORIES_STREAM,
    "text-render": subjects.JOBS_STREAM,
    "prompt-llm": f"KV_{subjects.LLM_CACHE_BUCKET}",
}


@pytest.mark.nats_violations
@pytest.mark.parametrize("change", ["republish", "transform"])
@pytest.mark.parametrize("user", sorted(STREAM_OF))
async def test_no_service_can_make_a_stream_copy_messages_onto_other_subjects(
    nats_server: NatsServer, user: str, change: str, connect_as: ConnectAs
) -> None:
    """A stream update with ``republish`` → ``billing.topup`` or a transform into ``jobs.fal.edit``
    once let text-render credit 1,000,000 ₽ and queue an unreserved job: no service may update one."""
    admin = await nats.connect(nats_server.url)
    await ensure_layout(admin.jetstream())
    stream = STREAM_OF[user]
    before = (await admin.jetstream().stream_info(stream)).config
    nc, refusals = await connect_as(user)
    try:
        js = nc.jetstream(timeout=1)
        config = (await js.stream_info(stream)).config
        if change == "republish":
            config.republish = RePublish(src=">", dest=subjects.BILLING_TOPUP)
        else:
            config.subjects = [*(config.subjects or []), "llm.parse_style"]
            config.subject_transform = SubjectTransform(src="llm.parse_style", dest="jobs.fal.edit")
        with pytest.raises(Exception):  # noqa: B017 - refused requests time out in nats-py
            await js.update_stream(config)
        await refusals.refused(f"$JS.API.STREAM.UPDATE.{stream}")
        assert (await admin.jetstream().stream_info(stream)).config == before
    finally:
        await nc.close()
        await admin.close()


@pytest.mark.parametrize("user", ["gateway-bot", "fal-runner", "wavespeed-runner", "text-render"])
async def test_services_with_media_read_and_write_large_objects(
    nats_server: NatsServer, user: str, connect_as: ConnectAs
) -> None:
    """The allow lists are not too tight: a multi-chunk object (flow-controlled reads) goes both ways.
    A refusal would fail this test through the test kit's violation check."""
    admin = await nats.connect(nats_server.url)
    await ensure_layout(admin.jetstream())
    await admin.close()
    nc, _ = await connect_as(user)
    store = await nc.jetstream().object_store(subjects.MEDIA_BUCKET)
    data = bytes(range(256)) * 40_000  # ~10 MB: many chunks, flow control on the read
    async with asyncio.timeout(30):  # a refused flow-control reply stalls the read instead of failing
        await store.put(f"results/{user}/big.png", data)
        assert (await store.get(f"results/{user}/big.png")).data == data
