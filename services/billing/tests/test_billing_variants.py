"""Variants: a job asking for several images holds per image × images; fewer images delivered are
charged as delivered and the rest returned once, as a ``partial_refund`` row with the charge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from billing import ledger
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    HistoryKind,
    OperationStatus,
    ReserveReply,
    ReserveRequest,
)
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import BadRequest
from medialab_contracts.events import JobSucceeded, MediaOutput
from medialab_contracts.modes import Mode
from medialab_testkit.billing import RunningBilling, ledger_kinds, new_user, publish_event, running_billing
from medialab_testkit.waiting import eventually

WELCOME = 5000  # covers four images at 8 ₽
DEADLINE_S = 600
IN_FLIGHT = 10
NANO = default_catalog().by_key("nb")
PER_IMAGE = NANO.price  # 800


@pytest.fixture
async def billing(settings_factory: Callable[..., BillingSettings]) -> AsyncIterator[RunningBilling]:
    async with running_billing(settings_factory(welcome_credit=WELCOME)) as running:
        yield running


def variants_request(user_id: int, images: int, price: int | None = None) -> ReserveRequest:
    job = NANO.job(Mode.create, user_id, user_id, prompt="a fox", images=images)
    if price is not None:
        job = job.model_copy(update={"price": price})
    return ReserveRequest.for_job(job)


def outputs(count: int) -> list[MediaOutput]:
    return [
        MediaOutput(object_name=f"result-{n}.png", content_type="image/png", width=1024, height=1024)
        for n in range(count)
    ]


async def rows(conn: asyncpg.Connection, job_id: str) -> list[tuple[str, int, int]]:
    found = await conn.fetch(
        "SELECT kind, delta_balance, delta_reserved FROM ledger WHERE job_id = $1 ORDER BY id", job_id
    )
    return [(r["kind"], r["delta_balance"], r["delta_reserved"]) for r in found]


async def assert_consistent(conn: asyncpg.Connection) -> None:
    report = await ledger.check_consistency(conn)
    assert report.ok, report


def test_the_catalog_prices_variants_per_image() -> None:
    assert NANO.price_for(None, 4) == 4 * PER_IMAGE
    assert NANO.variant_choices == (1, 2, 4)
    assert default_catalog().by_key("nbp").variant_choices == ()
    assert variants_request(1, 4).price == 4 * PER_IMAGE


async def test_four_asked_four_delivered_charges_four(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = variants_request(1, 4)
    held = await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    assert (held.balance.reserved, held.operation.images) == (4 * PER_IMAGE, 4)
    settled = await ledger.settle(conn, req.job_id, delivered=4)
    assert (settled.changed, settled.returned, settled.operation.delivered) == (True, 0, 4)
    assert await rows(conn, req.job_id) == [
        ("hold", 0, 4 * PER_IMAGE),
        ("charge", -4 * PER_IMAGE, -4 * PER_IMAGE),
    ]
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved) == (WELCOME - 4 * PER_IMAGE, 0)
    await assert_consistent(conn)


async def test_asked_four_got_three_charges_three_and_returns_one_once(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = variants_request(1, 4)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    settled = await ledger.settle(conn, req.job_id, delivered=3)
    again = await ledger.settle(conn, req.job_id, delivered=3)  # the event redelivered
    assert (settled.changed, settled.returned) == (True, PER_IMAGE)
    assert (settled.operation.status, settled.operation.delivered) == (OperationStatus.charged, 3)
    assert (again.changed, again.returned) == (False, 0)
    assert await rows(conn, req.job_id) == [
        ("hold", 0, 4 * PER_IMAGE),
        ("charge", -4 * PER_IMAGE, -4 * PER_IMAGE),
        ("partial_refund", PER_IMAGE, 0),
    ]
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved) == (WELCOME - 3 * PER_IMAGE, 0)
    page = await ledger.history(conn, 1, 1, 10)
    assert [(e.kind, e.delta, e.balance_after) for e in page.items[:2]] == [
        (HistoryKind.partial_refund, PER_IMAGE, WELCOME - 3 * PER_IMAGE),
        (HistoryKind.charge, -4 * PER_IMAGE, WELCOME - 4 * PER_IMAGE),
    ]
    await assert_consistent(conn)


async def test_a_refund_after_a_partial_one_returns_only_what_is_still_charged(
    conn: asyncpg.Connection,
) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = variants_request(1, 4)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.settle(conn, req.job_id, delivered=1)
    refunded = await ledger.refund(conn, req.job_id, "undeliverable")
    assert refunded.changed and refunded.operation.status == OperationStatus.refunded
    assert [kind for kind, _, _ in await rows(conn, req.job_id)] == [
        "hold",
        "charge",
        "partial_refund",
        "refund",
    ]
    assert (await rows(conn, req.job_id))[-1] == ("refund", PER_IMAGE, 0)
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved) == (WELCOME, 0)
    await assert_consistent(conn)


async def test_more_outputs_than_asked_charge_only_what_was_asked(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = variants_request(1, 2)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    settled = await ledger.settle(conn, req.job_id, delivered=5)
    assert (settled.returned, settled.operation.delivered) == (0, 2)
    assert (await ledger.balance(conn, 1)).balance == WELCOME - 2 * PER_IMAGE
    await assert_consistent(conn)


async def test_reserve_refuses_a_price_that_is_not_per_image_times_images(billing: RunningBilling) -> None:
    await new_user(billing, 1)
    with pytest.raises(BadRequest):
        await billing.call(subjects.BILLING_RESERVE, variants_request(1, 4, price=PER_IMAGE), ReserveReply)
    too_many = NANO.job(Mode.create, 1, 1, prompt="a fox").model_copy(update={"images": 4})
    pro = default_catalog().by_key("nbp")
    no_variants = pro.job(Mode.create, 1, 1, prompt="a fox", images=2)
    with pytest.raises(BadRequest):
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(too_many), ReserveReply)
    with pytest.raises(BadRequest):
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(no_variants), ReserveReply)
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved) == (WELCOME, 0)


async def test_a_short_success_event_settles_three_and_returns_one_once(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    req = variants_request(1, 4)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    event = JobSucceeded(job_id=req.job_id, user_id=1, chat_id=1, mode=req.mode, outputs=outputs(3))
    js = billing.client.jetstream()
    await publish_event(js, event)
    await publish_event(js, event, dedup=False)  # a second copy on the stream: a redelivery

    async def settled() -> bool:
        return await ledger_kinds(database_url, req.job_id) == ["hold", "charge", "partial_refund"]

    await eventually(settled, what="charge with its partial refund")
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved) == (WELCOME - 3 * PER_IMAGE, 0)
    await eventually(lambda: _drained(billing), what="saga drained")
    assert await ledger_kinds(database_url, req.job_id) == ["hold", "charge", "partial_refund"]


async def _drained(billing: RunningBilling) -> bool:
    info = await billing.client.jetstream().consumer_info(
        subjects.EVENTS_STREAM, subjects.BILLING_SAGA_CONSUMER
    )
    return info.num_pending == 0 and info.num_ack_pending == 0
