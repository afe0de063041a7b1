"""Top-ups paid through YooKassa: orders, the credit of a succeeded payment, cancel, reconcile, refund.

Only the payments service calls these (NATS permissions), and only with what YooKassa's API
answered for a payment it read itself — never with a notification's body. Billing still checks
every claim against the order it made: the payment is the order's (its id, once attached, and the
order id in its metadata), the amount and currency are the order's, and the credit is keyed by the
YooKassa payment id (the order's ``charge_id`` and the ledger row's ``external_id``, both unique),
so a payment is credited once however often it is reported.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg
from medialab_contracts.errors import Conflict, EmailRequired, UnknownOrder, UnknownUser
from medialab_contracts.payments import (
    OrderStatus,
    YooKassaCancelRequest,
    YooKassaOrder,
    YooKassaOrderRequest,
    YooKassaPaidRequest,
    YooKassaSettled,
)

from billing import orders
from billing.ledger import _retrying, balance

log = logging.getLogger(__name__)

CURRENCY = "RUB"
_COLUMNS = "order_id, user_id, amount, status, created_at, payment_id"

# The e-mail given is stored for the next top-up; without one, the stored one is used.
_CREATE = f"""
WITH u AS (
    UPDATE users SET email = COALESCE($4, email) WHERE user_id = $2 RETURNING user_id, email
), ord AS (
    INSERT INTO payment_orders (order_id, user_id, method, amount, price)
    SELECT $1, user_id, 'yookassa', $3, $3 FROM u WHERE email IS NOT NULL
    RETURNING {_COLUMNS}
)
SELECT ord.*, u.email FROM ord, u
"""

_ORDER = f"SELECT {_COLUMNS} FROM payment_orders WHERE order_id = $1 AND method = 'yookassa'"

_ATTACH = f"""
UPDATE payment_orders SET payment_id = $2
WHERE order_id = $1 AND method = 'yookassa' AND (payment_id IS NULL OR payment_id = $2)
RETURNING {_COLUMNS}
"""

_CREDIT = f"""
WITH ord AS (
    UPDATE payment_orders SET status = 'PAID', charge_id = $2, payment_id = $2, paid_at = now()
    WHERE order_id = $1 AND method = 'yookassa' AND status = 'PENDING' AND amount = $3
      AND (payment_id IS NULL OR payment_id = $2)
    RETURNING {_COLUMNS}
), credit AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, external_id)
    SELECT user_id, 'payment', amount, 0, payment_id FROM ord
), acct AS (
    UPDATE accounts a SET balance = a.balance + ord.amount
    FROM ord WHERE a.user_id = ord.user_id
    RETURNING a.balance, a.reserved
)
SELECT ord.*, acct.balance, acct.reserved FROM ord, acct
"""

_CANCEL = f"""
UPDATE payment_orders SET status = 'CANCELLED', payment_id = $2, cancelled_at = now()
WHERE order_id = $1 AND method = 'yookassa' AND status = 'PENDING' AND (payment_id IS NULL OR payment_id = $2)
RETURNING {_COLUMNS}
"""

# Round robin over the pending orders: the ones looked at least recently first, each marked as
# looked at now, so a payment nobody ever pays cannot keep the others from being checked.
_DUE = f"""
UPDATE payment_orders SET checked_at = now()
WHERE order_id IN (
    SELECT order_id FROM payment_orders
    WHERE method = 'yookassa' AND status = 'PENDING' AND payment_id IS NOT NULL
      AND created_at <= now() - make_interval(secs => $1)
    ORDER BY checked_at NULLS FIRST, created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING {_COLUMNS}
"""


def _order(row: asyncpg.Record, email: str | None = None) -> YooKassaOrder:
    return YooKassaOrder(
        order_id=row["order_id"],
        user_id=row["user_id"],
        amount=row["amount"],
        status=OrderStatus(row["status"]),
        created_at=row["created_at"],
        payment_id=row["payment_id"],
        email=email,
    )


async def _known(conn: asyncpg.Connection, order_id: str) -> YooKassaOrder:
    row = await conn.fetchrow(_ORDER, order_id)
    if row is None:
        raise UnknownOrder(f"no YooKassa order {order_id[:40]!r}")
    return _order(row)


async def create_order(conn: asyncpg.Connection, req: YooKassaOrderRequest) -> YooKassaOrder:
    row = await conn.fetchrow(_CREATE, uuid.uuid4().hex, req.user_id, req.amount, req.email)
    if row is not None:
        return _order(row, row["email"])
    if await conn.fetchval("SELECT 1 FROM users WHERE user_id = $1", req.user_id) is None:
        raise UnknownUser(f"user {req.user_id} is not registered")
    raise EmailRequired(f"user {req.user_id} has no e-mail for the receipt")


async def attach(conn: asyncpg.Connection, order_id: str, payment_id: str) -> YooKassaOrder:
    row = await conn.fetchrow(_ATTACH, order_id, payment_id)
    if row is None:
        order = await _known(conn, order_id)
        raise Conflict(f"order {order_id} belongs to payment {order.payment_id}, not {payment_id}")
    return _order(row)


async def credit(conn: asyncpg.Connection, req: YooKassaPaidRequest) -> YooKassaSettled:
    """Credit a succeeded payment's order once; a repeat of the same payment moves nothing."""
    if req.currency != CURRENCY:
        log.error("payment %s is in %s, not %s; not credited", req.payment_id, req.currency, CURRENCY)
        raise Conflict(f"payment {req.payment_id} is not in {CURRENCY}")

    async def attempt() -> YooKassaSettled | None:
        row = await conn.fetchrow(_CREDIT, req.order_id, req.payment_id, req.amount)
        if row is not None:
            account = await balance(conn, row["user_id"])
            return YooKassaSettled(order=_order(row), balance=account, moved=True)
        order = await _known(conn, req.order_id)
        ours = order.payment_id in (None, req.payment_id) and order.amount == req.amount
        if ours and order.status in (OrderStatus.paid, OrderStatus.refunded):
            return YooKassaSettled(order=order, balance=await balance(conn, order.user_id), moved=False)
        if ours and order.status == OrderStatus.pending:
            return None  # credited by a transaction that committed after our snapshot: read again
        # Money was taken that no order can take: an operator refunds it in YooKassa's dashboard.
        log.error(
            "payment %s (%d kopecks) does not fit order %s (%s, payment %s, %d kopecks); not credited",
            req.payment_id,
            req.amount,
            req.order_id,
            order.status.value,
            order.payment_id,
            order.amount,
        )
        raise Conflict(f"order {req.order_id} does not match payment {req.payment_id}")

    return await _retrying(attempt)


async def cancel(conn: asyncpg.Connection, req: YooKassaCancelRequest) -> YooKassaSettled:
    """End a pending order whose payment YooKassa canceled; nothing moves if it was ended before."""
    row = await conn.fetchrow(_CANCEL, req.order_id, req.payment_id)
    if row is not None:
        return YooKassaSettled(order=_order(row), balance=await balance(conn, row["user_id"]), moved=True)
    order = await _known(conn, req.order_id)
    if order.status == OrderStatus.cancelled and order.payment_id == req.payment_id:
        return YooKassaSettled(order=order, balance=await balance(conn, order.user_id), moved=False)
    log.error("payment %s canceled but order %s is %s", req.payment_id, req.order_id, order.status.value)
    raise Conflict(f"order {req.order_id} cannot be cancelled by payment {req.payment_id}")


async def due(conn: asyncpg.Connection, older_than_s: float, limit: int) -> list[YooKassaOrder]:
    return [_order(row) for row in await conn.fetch(_DUE, older_than_s, limit)]


async def refund(conn: asyncpg.Connection, payment_id: str) -> tuple[YooKassaOrder, orders.Debit]:
    debit = await orders.debit_refund(conn, payment_id, "yookassa")
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM payment_orders WHERE charge_id = $1", payment_id)
    if row is None:
        raise UnknownOrder(f"no payment {payment_id[:40]!r}")
    return _order(row), debit
