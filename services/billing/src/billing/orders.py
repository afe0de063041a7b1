"""What every paid top-up order shares, whatever paid it: the refund's debit.

A refund moves PAID → REFUNDED and debits the order's amount once (ledger kind ``payment_refund``
keyed by the order's ``charge_id``), and only while the user still has that amount available: the
balance never goes below what running jobs hold, so never below zero. A user who already spent the
top-up cannot be refunded by the bot (InsufficientFunds, nothing moves, the provider is not asked):
an operator settles it by hand, or tops the balance up first.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from medialab_contracts.billing import BalanceView
from medialab_contracts.errors import InsufficientFunds, UnknownOrder

from billing.ledger import _retrying, balance

# The account is debited first, on the condition that the amount is still available: PostgreSQL
# re-checks it on the latest row, so a concurrent reserve can never make the debit overdraw.
_REFUND = """
WITH target AS (
    SELECT order_id, user_id, amount FROM payment_orders
    WHERE charge_id = $1 AND method = $2 AND status = 'PAID'
    FOR UPDATE
), acct AS (
    UPDATE accounts a SET balance = a.balance - t.amount
    FROM target t WHERE a.user_id = t.user_id AND a.balance - a.reserved >= t.amount
    RETURNING a.user_id, a.balance, a.reserved, t.order_id
), ord AS (
    UPDATE payment_orders o SET status = 'REFUNDED', refunded_at = now()
    FROM acct WHERE o.order_id = acct.order_id
    RETURNING o.user_id, o.amount, o.charge_id
), debit AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, external_id)
    SELECT user_id, 'payment_refund', -amount, 0, charge_id FROM ord
)
SELECT acct.user_id, acct.balance, acct.reserved FROM ord, acct
"""

_PAID_ORDER = "SELECT user_id, amount, status FROM payment_orders WHERE charge_id = $1 AND method = $2"


@dataclass(frozen=True)
class Debit:
    balance: BalanceView
    moved: bool  # False: refunded before; nothing moved


async def debit_refund(conn: asyncpg.Connection, charge_id: str, method: str) -> Debit:
    """Debit the paid order of ``charge_id`` once; refused while the user does not have it available."""

    async def attempt() -> Debit | None:
        row = await conn.fetchrow(_REFUND, charge_id, method)
        if row is not None:
            available = row["balance"] - row["reserved"]
            view = BalanceView(
                user_id=row["user_id"], balance=row["balance"], reserved=row["reserved"], available=available
            )
            return Debit(view, True)
        found = await conn.fetchrow(_PAID_ORDER, charge_id, method)
        if found is None:
            raise UnknownOrder(f"no payment with charge id {charge_id[:40]!r}")
        account = await balance(conn, found["user_id"])
        if found["status"] == "REFUNDED":
            return Debit(account, False)
        if account.available < found["amount"]:
            raise InsufficientFunds(available=account.available, price=found["amount"])
        return None  # funds were freed between the two statements

    return await _retrying(attempt)
