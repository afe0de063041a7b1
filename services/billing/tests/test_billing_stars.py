"""Telegram Stars top-ups over real NATS and PostgreSQL: orders, pre-checkout, one credit per charge,
one debit per refund."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from billing import ledger
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    HistoryKind,
    HistoryPage,
    HistoryRequest,
    ReserveReply,
)
from medialab_contracts.errors import BadAmount, Conflict, InsufficientFunds, NotAdmin, UnknownOrder
from medialab_contracts.payments import (
    OrderStatus,
    StarsCheckRequest,
    StarsOrder,
    StarsOrderRequest,
    StarsPaidReply,
    StarsPaidRequest,
    StarsRefundReply,
    StarsRefundRequest,
)
from medialab_testkit.billing import ADMIN_ID, RunningBilling, new_user, reserve_request

WELCOME = 3000
PACK = 10_000  # 100 ₽
PACK_STARS = 67  # at the default 150 kopecks per Star, rounded up


async def available(billing: RunningBilling, user_id: int) -> int:
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=user_id), BalanceView)
    return view.available


async def consistent(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return (await ledger.check_consistency(conn)).ok
    finally:
        await conn.close()


async def order(billing: RunningBilling, user_id: int, amount: int = PACK) -> StarsOrder:
    request = StarsOrderRequest(user_id=user_id, amount=amount)
    return await billing.call(subjects.BILLING_STARS_ORDER, request, StarsOrder)


def paid(made: StarsOrder, charge_id: str, stars: int | None = None) -> StarsPaidRequest:
    return StarsPaidRequest(
        order_id=made.order_id, user_id=made.user_id, stars=stars or made.stars, charge_id=charge_id
    )


async def test_billing_prices_the_order_and_checks_it_before_checkout(billing: RunningBilling) -> None:
    await new_user(billing, 501)
    await new_user(billing, 502)
    made = await order(billing, 501)
    assert (made.amount, made.stars, made.status) == (PACK, PACK_STARS, OrderStatus.pending)

    check = StarsCheckRequest(order_id=made.order_id, user_id=501, stars=PACK_STARS)
    assert (await billing.call(subjects.BILLING_STARS_CHECK, check, StarsOrder)).order_id == made.order_id
    with pytest.raises(Conflict):
        wrong_price = check.model_copy(update={"stars": 1})
        await billing.call(subjects.BILLING_STARS_CHECK, wrong_price, StarsOrder)
    for forged in (check.model_copy(update={"user_id": 502}), check.model_copy(update={"order_id": "x"})):
        with pytest.raises(UnknownOrder):
            await billing.call(subjects.BILLING_STARS_CHECK, forged, StarsOrder)
    for amount in (100, 100_000_000):
        with pytest.raises(BadAmount):
            await order(billing, 501, amount)


async def test_duplicate_payments_credit_once(billing: RunningBilling, database_url: str) -> None:
    await new_user(billing, 511)
    made = await order(billing, 511)
    replies = await asyncio.gather(
        *(billing.call(subjects.BILLING_STARS_PAID, paid(made, "stxABC"), StarsPaidReply) for _ in range(20))
    )
    assert sum(reply.credited for reply in replies) == 1
    assert {reply.order.status for reply in replies} == {OrderStatus.paid}
    assert await available(billing, 511) == WELCOME + PACK

    check = StarsCheckRequest(order_id=made.order_id, user_id=511, stars=made.stars)
    with pytest.raises(Conflict):  # a paid order cannot be checked out again
        await billing.call(subjects.BILLING_STARS_CHECK, check, StarsOrder)
    for other in (paid(made, "stxOTHER"), paid(made, "stxABC", stars=made.stars + 1)):
        with pytest.raises(Conflict):
            await billing.call(subjects.BILLING_STARS_PAID, other, StarsPaidReply)
    assert await available(billing, 511) == WELCOME + PACK

    page = await billing.call(subjects.BILLING_HISTORY, HistoryRequest(user_id=511), HistoryPage)
    assert [(item.kind, item.delta) for item in page.items] == [
        (HistoryKind.payment, PACK),
        (HistoryKind.welcome, WELCOME),
    ]
    assert await consistent(database_url)


async def test_a_refund_debits_once_and_never_below_what_is_available(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 521)
    made = await order(billing, 521)
    await billing.call(subjects.BILLING_STARS_PAID, paid(made, "stxREFUND"), StarsPaidReply)

    refund = StarsRefundRequest(admin_id=ADMIN_ID, charge_id="stxREFUND")
    with pytest.raises(NotAdmin):
        forged = refund.model_copy(update={"admin_id": 521})
        await billing.call(subjects.BILLING_STARS_REFUND, forged, StarsRefundReply)
    with pytest.raises(UnknownOrder):
        unknown = refund.model_copy(update={"charge_id": "stxNONE"})
        await billing.call(subjects.BILLING_STARS_REFUND, unknown, StarsRefundReply)

    # While a job holds part of the money, the payment cannot be taken back.
    await billing.call(subjects.BILLING_RESERVE, reserve_request(521, WELCOME + 1), ReserveReply)
    with pytest.raises(InsufficientFunds) as refused:
        await billing.call(subjects.BILLING_STARS_REFUND, refund, StarsRefundReply)
    assert (refused.value.data["available"], refused.value.data["price"]) == (PACK - 1, PACK)

    await new_user(billing, 522)
    other = await order(billing, 522)
    await billing.call(subjects.BILLING_STARS_PAID, paid(other, "stxREFUND2"), StarsPaidReply)
    second = StarsRefundRequest(admin_id=ADMIN_ID, charge_id="stxREFUND2")
    replies = await asyncio.gather(
        *(billing.call(subjects.BILLING_STARS_REFUND, second, StarsRefundReply) for _ in range(10))
    )
    assert sum(reply.debited for reply in replies) == 1
    assert {reply.order.status for reply in replies} == {OrderStatus.refunded}
    assert await available(billing, 522) == WELCOME
    page = await billing.call(subjects.BILLING_HISTORY, HistoryRequest(user_id=522), HistoryPage)
    assert [(item.kind, item.delta) for item in page.items][:2] == [
        (HistoryKind.payment_refund, -PACK),
        (HistoryKind.payment, PACK),
    ]
    assert await consistent(database_url)
