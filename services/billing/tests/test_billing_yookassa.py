"""YooKassa top-ups in billing over real NATS and PostgreSQL: orders with the receipt e-mail, one
credit per succeeded payment checked against the order, cancel, the reconcile's round robin, one
debit per refund."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from billing import ledger
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, ReserveReply
from medialab_contracts.errors import (
    BadAmount,
    Conflict,
    EmailRequired,
    InsufficientFunds,
    NotAdmin,
    UnknownOrder,
)
from medialab_contracts.payments import (
    OrderStatus,
    YooKassaAttachRequest,
    YooKassaCancelRequest,
    YooKassaOrder,
    YooKassaOrderRequest,
    YooKassaPaidRequest,
    YooKassaPendingReply,
    YooKassaPendingRequest,
    YooKassaRefundReply,
    YooKassaRefundRequest,
    YooKassaSettled,
)
from medialab_testkit.billing import ADMIN_ID, RunningBilling, new_user, reserve_request

WELCOME = 3000
PACK = 10_000
EMAIL = "user@example.com"


def payment_id() -> str:
    return str(uuid.uuid4())


async def available(billing: RunningBilling, user_id: int) -> int:
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=user_id), BalanceView)
    return view.available


async def consistent(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return (await ledger.check_consistency(conn)).ok
    finally:
        await conn.close()


async def order(billing: RunningBilling, user_id: int, email: str | None = EMAIL) -> YooKassaOrder:
    request = YooKassaOrderRequest(user_id=user_id, amount=PACK, email=email)
    return await billing.call(subjects.BILLING_YOOKASSA_ORDER, request, YooKassaOrder)


async def attached(billing: RunningBilling, made: YooKassaOrder) -> str:
    pid = payment_id()
    ask = YooKassaAttachRequest(order_id=made.order_id, payment_id=pid)
    assert (await billing.call(subjects.BILLING_YOOKASSA_ATTACH, ask, YooKassaOrder)).payment_id == pid
    return pid


def paid(made: YooKassaOrder, pid: str, amount: int = PACK, currency: str = "RUB") -> YooKassaPaidRequest:
    return YooKassaPaidRequest(order_id=made.order_id, payment_id=pid, amount=amount, currency=currency)


async def test_an_order_needs_an_email_once_and_an_amount_within_limits(billing: RunningBilling) -> None:
    await new_user(billing, 601)
    with pytest.raises(EmailRequired):
        await order(billing, 601, email=None)
    made = await order(billing, 601)
    assert (made.amount, made.status, made.email, made.payment_id) == (PACK, OrderStatus.pending, EMAIL, None)
    again = await order(billing, 601, email=None)  # stored now
    assert again.email == EMAIL and again.order_id != made.order_id
    for amount in (100, 100_000_000):
        with pytest.raises(BadAmount):
            request = YooKassaOrderRequest(user_id=601, amount=amount, email=EMAIL)
            await billing.call(subjects.BILLING_YOOKASSA_ORDER, request, YooKassaOrder)
    pid = await attached(billing, made)
    with pytest.raises(Conflict):  # an order has one payment
        other = YooKassaAttachRequest(order_id=made.order_id, payment_id=payment_id())
        await billing.call(subjects.BILLING_YOOKASSA_ATTACH, other, YooKassaOrder)
    same = YooKassaAttachRequest(order_id=made.order_id, payment_id=pid)
    assert (await billing.call(subjects.BILLING_YOOKASSA_ATTACH, same, YooKassaOrder)).payment_id == pid


async def test_a_succeeded_payment_credits_once_and_only_with_the_orders_terms(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 611)
    made = await order(billing, 611)
    pid = await attached(billing, made)
    for wrong in (
        paid(made, pid, amount=PACK + 100),
        paid(made, pid, currency="USD"),
        paid(made, payment_id()),
    ):
        with pytest.raises(Conflict):
            await billing.call(subjects.BILLING_YOOKASSA_PAID, wrong, YooKassaSettled)
    with pytest.raises(UnknownOrder):
        unknown = YooKassaPaidRequest(order_id="f" * 32, payment_id=pid, amount=PACK, currency="RUB")
        await billing.call(subjects.BILLING_YOOKASSA_PAID, unknown, YooKassaSettled)
    assert await available(billing, 611) == WELCOME

    replies = await asyncio.gather(
        *(billing.call(subjects.BILLING_YOOKASSA_PAID, paid(made, pid), YooKassaSettled) for _ in range(20))
    )
    assert sum(reply.moved for reply in replies) == 1
    assert {reply.order.status for reply in replies} == {OrderStatus.paid}
    assert await available(billing, 611) == WELCOME + PACK
    with pytest.raises(Conflict):  # a paid order is not cancelled
        cancel = YooKassaCancelRequest(order_id=made.order_id, payment_id=pid)
        await billing.call(subjects.BILLING_YOOKASSA_CANCEL, cancel, YooKassaSettled)
    assert await consistent(database_url)


async def test_a_canceled_payment_ends_its_order_and_the_reconcile_goes_round(
    billing: RunningBilling,
) -> None:
    await new_user(billing, 621)
    first, second, unattached = (
        await order(billing, 621),
        await order(billing, 621),
        await order(billing, 621),
    )
    first_pid = await attached(billing, first)
    await attached(billing, second)

    # One at a time, the least recently checked first: the oldest, the next, then the oldest again.
    pending = YooKassaPendingRequest(older_than_s=0, limit=1)
    seen = [
        [
            o.order_id
            for o in (
                await billing.call(subjects.BILLING_YOOKASSA_PENDING, pending, YooKassaPendingReply)
            ).orders
        ]
        for _ in range(3)
    ]
    assert seen == [[first.order_id], [second.order_id], [first.order_id]]
    everything = YooKassaPendingRequest(older_than_s=0, limit=1000)
    listed = (await billing.call(subjects.BILLING_YOOKASSA_PENDING, everything, YooKassaPendingReply)).orders
    ids = {o.order_id for o in listed}
    assert {first.order_id, second.order_id} <= ids and unattached.order_id not in ids
    later = YooKassaPendingRequest(older_than_s=3600, limit=1000)
    assert first.order_id not in {
        o.order_id
        for o in (await billing.call(subjects.BILLING_YOOKASSA_PENDING, later, YooKassaPendingReply)).orders
    }

    cancel = YooKassaCancelRequest(order_id=first.order_id, payment_id=first_pid)
    replies = [
        await billing.call(subjects.BILLING_YOOKASSA_CANCEL, cancel, YooKassaSettled) for _ in range(2)
    ]
    assert [r.moved for r in replies] == [True, False] and replies[0].order.status == OrderStatus.cancelled
    with pytest.raises(Conflict):  # a canceled order is never credited
        await billing.call(subjects.BILLING_YOOKASSA_PAID, paid(first, first_pid), YooKassaSettled)
    listed = (await billing.call(subjects.BILLING_YOOKASSA_PENDING, everything, YooKassaPendingReply)).orders
    assert first.order_id not in {o.order_id for o in listed}
    assert await available(billing, 621) == WELCOME


async def test_a_refund_debits_once_and_never_below_what_is_available(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 631)
    made = await order(billing, 631)
    pid = await attached(billing, made)
    await billing.call(subjects.BILLING_YOOKASSA_PAID, paid(made, pid), YooKassaSettled)
    refund = YooKassaRefundRequest(admin_id=ADMIN_ID, payment_id=pid)
    with pytest.raises(NotAdmin):
        forged = refund.model_copy(update={"admin_id": 631})
        await billing.call(subjects.BILLING_YOOKASSA_REFUND, forged, YooKassaRefundReply)
    with pytest.raises(UnknownOrder):
        unknown = refund.model_copy(update={"payment_id": payment_id()})
        await billing.call(subjects.BILLING_YOOKASSA_REFUND, unknown, YooKassaRefundReply)

    hold = await billing.call(subjects.BILLING_RESERVE, reserve_request(631, WELCOME + 1), ReserveReply)
    with pytest.raises(InsufficientFunds):
        await billing.call(subjects.BILLING_YOOKASSA_REFUND, refund, YooKassaRefundReply)
    assert hold.operation.job_id

    await new_user(billing, 632)
    other = await order(billing, 632)
    other_pid = await attached(billing, other)
    await billing.call(subjects.BILLING_YOOKASSA_PAID, paid(other, other_pid), YooKassaSettled)
    second = YooKassaRefundRequest(admin_id=ADMIN_ID, payment_id=other_pid)
    replies = await asyncio.gather(
        *(billing.call(subjects.BILLING_YOOKASSA_REFUND, second, YooKassaRefundReply) for _ in range(10))
    )
    assert sum(reply.debited for reply in replies) == 1
    assert {reply.order.status for reply in replies} == {OrderStatus.refunded}
    assert await available(billing, 632) == WELCOME
    assert await consistent(database_url)
