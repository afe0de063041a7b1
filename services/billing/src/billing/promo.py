"""Promo codes and referrals: plain async functions over one asyncpg connection.

A redemption is ONE statement: it takes a use of the code only while the code is unexpired, has uses
left and this user has not redeemed it (PostgreSQL re-checks the conditions on the latest row of the
code, so concurrent redemptions never take more than ``max_uses``), records the redemption (primary
key: code and user) and credits the code's amount as a ``promo`` ledger row keyed by the redemption.
Two redemptions by one user at once: the second one's insert of the redemption fails on the key, the
whole statement is undone and, read again, finds the code already used.

A referral is recorded only while bonuses are on, for a user who has not paid yet and has no
referrer; the bonus itself is paid by the ledger's trigger on the user's first payment (migration
0007), so every payment method triggers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg
from medialab_contracts.billing import BalanceView
from medialab_contracts.errors import Conflict, UnknownUser
from medialab_contracts.promo import (
    PROMO_CODE_PATTERN,
    PromoCreateRequest,
    PromoOutcome,
    PromoView,
    normalize_code,
)

from billing.ledger import _retrying, balance

_PROMO_COLUMNS = "code, amount, max_uses, uses, expires_at"

_CREATE = f"""
INSERT INTO promo_codes (code, amount, max_uses, expires_at, created_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (code) DO NOTHING
RETURNING {_PROMO_COLUMNS}
"""
_PROMO = f"SELECT {_PROMO_COLUMNS} FROM promo_codes WHERE code = $1"

_REDEEM = """
WITH promo AS (
    UPDATE promo_codes p SET uses = p.uses + 1
    WHERE p.code = $1 AND p.uses < p.max_uses AND (p.expires_at IS NULL OR p.expires_at > now())
      AND NOT EXISTS (SELECT 1 FROM promo_redemptions r WHERE r.promo_id = p.promo_id AND r.user_id = $2)
      AND EXISTS (SELECT 1 FROM accounts WHERE user_id = $2)
    RETURNING p.promo_id, p.amount
), redemption AS (
    INSERT INTO promo_redemptions (promo_id, user_id) SELECT promo_id, $2 FROM promo
), credit AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, external_id)
    SELECT $2, 'promo', amount, 0, 'promo:' || promo_id || ':' || $2::bigint FROM promo
), acct AS (
    UPDATE accounts a SET balance = a.balance + promo.amount
    FROM promo WHERE a.user_id = $2
    RETURNING a.balance, a.reserved
)
SELECT promo.amount, acct.balance, acct.reserved FROM promo, acct
"""

# Why a redemption did not happen: the code's state and whether this user redeemed it.
_REFUSAL = """
SELECT p.uses >= p.max_uses AS used_up,
       p.expires_at IS NOT NULL AND p.expires_at <= now() AS expired,
       EXISTS (SELECT 1 FROM promo_redemptions r WHERE r.promo_id = p.promo_id AND r.user_id = $2) AS mine
FROM promo_codes p WHERE p.code = $1
"""

_USER_EXISTS = "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1)"

_REFER = """
INSERT INTO referrals (user_id, referrer_id, bonus)
SELECT $1::bigint, $2::bigint, $3::bigint
WHERE $1::bigint <> $2::bigint
  AND EXISTS (SELECT 1 FROM users WHERE user_id = $2)
  AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND created_at > now() - make_interval(secs => $4))
  AND NOT EXISTS (SELECT 1 FROM ledger WHERE user_id = $1 AND kind = 'payment')
ON CONFLICT (user_id) DO NOTHING
RETURNING user_id
"""


@dataclass(frozen=True)
class Redemption:
    outcome: PromoOutcome
    amount: int = 0
    balance: BalanceView | None = None


async def create(conn: asyncpg.Connection, req: PromoCreateRequest) -> PromoView:
    """Make the code; an existing code is left as it is (``created`` False, its own terms)."""
    row = await conn.fetchrow(_CREATE, req.code, req.amount, req.max_uses, req.expires_at, req.admin_id)
    if row is not None:
        return PromoView(**dict(row), created=True)
    existing = await conn.fetchrow(_PROMO, req.code)
    if existing is None:  # codes are never deleted: only a creation rolled back meanwhile gets here
        raise Conflict(f"promo code {req.code} changed while it was made; try again")
    return PromoView(**dict(existing), created=False)


async def redeem(conn: asyncpg.Connection, user_id: int, typed: str) -> Redemption:
    """Credit the code's amount to the user once; otherwise say why not."""
    code = normalize_code(typed)
    if not re.fullmatch(PROMO_CODE_PATTERN, code):
        return Redemption(PromoOutcome.unknown)

    async def attempt() -> Redemption | None:
        row = await conn.fetchrow(_REDEEM, code, user_id)
        if row is not None:
            view = BalanceView(
                user_id=user_id,
                balance=row["balance"],
                reserved=row["reserved"],
                available=row["balance"] - row["reserved"],
            )
            return Redemption(PromoOutcome.credited, row["amount"], view)
        refusal = await conn.fetchrow(_REFUSAL, code, user_id)
        if refusal is None:
            return Redemption(PromoOutcome.unknown)
        if refusal["mine"]:
            return Redemption(PromoOutcome.already_used)
        if refusal["expired"]:
            return Redemption(PromoOutcome.expired)
        if refusal["used_up"]:
            return Redemption(PromoOutcome.used_up)
        if not await conn.fetchval(_USER_EXISTS, user_id):
            raise UnknownUser(f"user {user_id} is not registered")
        return None  # a concurrent redemption changed the code after our snapshot: look again

    return await _retrying(attempt)


async def refer(conn: asyncpg.Connection, user_id: int, referrer_id: int, bonus: int, window_s: int) -> bool:
    """Record ``referrer_id`` as the one who brought ``user_id`` (registered within ``window_s`` and
    not paid yet), with the bonus their first payment will pay; False if not recorded."""
    await balance(conn, user_id)  # UnknownUser for a user who never started the bot
    return await conn.fetchval(_REFER, user_id, referrer_id, bonus, window_s) is not None
