"""Top-ups paid with Telegram Stars: orders, the pre-checkout check, the credit and the refund.

An order fixes, when the invoice is made, the kopecks to credit and the Stars to charge (billing's
own rate). Paying it moves PENDING → PAID and credits the order's amount in one statement, keyed by
Telegram's ``telegram_payment_charge_id`` (the order row's ``charge_id`` and the ledger row's
``external_id``, both unique): a duplicate ``successful_payment`` — from a redelivery, or after a
gateway restart — finds the order PAID with the same charge and moves nothing. A refund moves
PAID → REFUNDED and debits the amount once (``orders.debit_refund``, shared with YooKassa).
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

import asyncpg
from medialab_contracts.billing import BalanceView
from medialab_contracts.errors import Conflict, UnknownOrder, UnknownUser
from medialab_contracts.payments import (
    OrderStatus,
    StarsCheckRequest,
    StarsOrder,
    StarsPaidRequest,
)

from billing import orders
from billing.ledger import _retrying, balance

log = logging.getLogger(__name__)

_ORDER_COLUMNS = "order_id, user_id, amount, price, status, created_at, charge_id"

_CREATE = f"""
INSERT INTO payment_orders (order_id, user_id, method, amount, price)
SELECT $1, user_id, 'stars', $3, $4 FROM users WHERE user_id = $2
RETURNING {_ORDER_COLUMNS}
"""

_ORDER = f"SELECT {_ORDER_COLUMNS} FROM payment_orders WHERE order_id = $1"
_ORDER_BY_CHARGE = f"SELECT {_ORDER_COLUMNS} FROM payment_orders WHERE charge_id = $1"

_CREDIT = f"""
WITH ord AS (
    UPDATE payment_orders SET status = 'PAID', charge_id = $2, paid_at = now()
    WHERE order_id = $1 AND status = 'PENDING' AND user_id = $3 AND price = $4
    RETURNING {_ORDER_COLUMNS}
), credit AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, external_id)
    SELECT user_id, 'payment', amount, 0, charge_id FROM ord
), acct AS (
    UPDATE accounts a SET balance = a.balance + ord.amount
    FROM ord WHERE a.user_id = ord.user_id
    RETURNING a.balance, a.reserved
)
SELECT ord.*, acct.balance, acct.reserved FROM ord, acct
"""


@dataclass(frozen=True)
class Payment:
    order: StarsOrder
    balance: BalanceView
    moved: bool  # False: this charge was already credited (or refunded); nothing moved


def stars_for(amount: int, kopecks_per_star: int) -> int:
    """The Stars that buy ``amount`` kopecks: rounded up, so a top-up never costs less than it gives."""
    return math.ceil(amount / kopecks_per_star)


def _order(row: asyncpg.Record) -> StarsOrder:
    return StarsOrder(
        order_id=row["order_id"],
        user_id=row["user_id"],
        amount=row["amount"],
        stars=row["price"],
        status=OrderStatus(row["status"]),
        created_at=row["created_at"],
        charge_id=row["charge_id"],
    )


def _balance(user_id: int, row: asyncpg.Record) -> BalanceView:
    return BalanceView(
        user_id=user_id,
        balance=row["balance"],
        reserved=row["reserved"],
        available=row["balance"] - row["reserved"],
    )


async def create_order(conn: asyncpg.Connection, user_id: int, amount: int, stars: int) -> StarsOrder:
    row = await conn.fetchrow(_CREATE, uuid.uuid4().hex, user_id, amount, stars)
    if row is None:
        raise UnknownUser(f"user {user_id} is not registered")
    return _order(row)


async def _known_order(conn: asyncpg.Connection, order_id: str) -> StarsOrder:
    row = await conn.fetchrow(_ORDER, order_id)
    if row is None:
        raise UnknownOrder(f"no order {order_id[:40]!r}")
    return _order(row)


async def check_order(conn: asyncpg.Connection, req: StarsCheckRequest) -> StarsOrder:
    """The pre-checkout: the order exists, is this user's, still unpaid, and costs these Stars."""
    order = await _known_order(conn, req.order_id)
    if order.user_id != req.user_id:
        raise UnknownOrder(f"order {req.order_id} is not this user's")
    if order.status != OrderStatus.pending:
        raise Conflict(f"order {req.order_id} is already {order.status.value}")
    if order.stars != req.stars:
        raise Conflict(f"order {req.order_id} costs {order.stars} Stars, not {req.stars}")
    return order


async def credit(conn: asyncpg.Connection, req: StarsPaidRequest) -> Payment:
    """Credit a paid order's amount once per charge id; a repeat of the same charge moves nothing."""

    async def attempt() -> Payment | None:
        row = await conn.fetchrow(_CREDIT, req.order_id, req.charge_id, req.user_id, req.stars)
        if row is not None:
            return Payment(_order(row), _balance(req.user_id, row), True)
        order = await _known_order(conn, req.order_id)
        same_terms = (order.user_id, order.stars) == (req.user_id, req.stars)
        if same_terms and order.status != OrderStatus.pending and order.charge_id == req.charge_id:
            return Payment(order, await balance(conn, order.user_id), False)
        if same_terms and order.status == OrderStatus.pending:
            return None  # paid by a transaction that committed after our snapshot: read again
        # Money was taken for an order that cannot take it: an operator refunds it by its charge id.
        log.error(
            "payment %s for order %s does not fit the order (%s, user %d, %d Stars); not credited",
            req.charge_id,
            req.order_id,
            order.status.value,
            order.user_id,
            order.stars,
        )
        raise Conflict(f"order {req.order_id} does not match payment {req.charge_id}")

    return await _retrying(attempt)


async def refund(conn: asyncpg.Connection, charge_id: str) -> Payment:
    """Debit a paid order's amount once; refused while the user does not have it available."""
    debit = await orders.debit_refund(conn, charge_id, "stars")
    found = await conn.fetchrow(_ORDER_BY_CHARGE, charge_id)
    if found is None:  # debit_refund found it; only a concurrent /delete_me… never deletes orders
        raise UnknownOrder(f"no payment with charge id {charge_id[:40]!r}")
    return Payment(_order(found), debit.balance, debit.moved)
