"""The admins' /stats: sums of the ledger over today, 7 and 30 days (calendar days, Moscow time).

Everything is read in one repeatable-read snapshot, so the periods agree with each other and with the
ledger at one moment. Revenue is money paid in (``payment`` rows less ``payment_refund`` rows, by the
order's method); promo, referral, welcome and admin credits are shown apart, as they are not revenue.
The provider cost is what each charged job's provider bills at list price (kept on the operation when
it is reserved).
"""

from __future__ import annotations

import asyncpg
from medialab_contracts.modes import Mode
from medialab_contracts.promo import StatsPeriod

PERIOD_DAYS = (1, 7, 30)

_SINCE = """
SELECT (date_trunc('day', now() AT TIME ZONE 'Europe/Moscow') - make_interval(days => $1 - 1))
       AT TIME ZONE 'Europe/Moscow'
"""

_USERS = """
SELECT (SELECT count(*) FROM users WHERE created_at >= $1) AS new_users,
       (SELECT count(DISTINCT user_id) FROM ledger WHERE kind = 'hold' AND created_at >= $1) AS active_users,
       (SELECT count(DISTINCT user_id) FROM ledger WHERE kind = 'payment' AND created_at >= $1) AS paid_users,
       (SELECT coalesce(-sum(delta_balance), 0)::bigint FROM ledger
        WHERE kind IN ('charge', 'refund') AND created_at >= $1) AS charged
"""

_JOBS = """
SELECT o.mode, count(*) AS jobs, coalesce(sum(o.provider_cost), 0)::bigint AS cost
FROM ledger l JOIN operations o ON o.job_id = l.job_id
WHERE l.kind = 'charge' AND l.created_at >= $1
GROUP BY o.mode
"""

_REVENUE = """
SELECT coalesce(o.method, 'other') AS method, sum(l.delta_balance)::bigint AS amount
FROM ledger l LEFT JOIN payment_orders o ON o.charge_id = l.external_id
WHERE l.kind IN ('payment', 'payment_refund') AND l.created_at >= $1
GROUP BY 1
"""

# Credits that are not revenue, by what the operator calls them.
_CREDITS = """
SELECT CASE kind WHEN 'topup' THEN 'admin' ELSE kind END AS source, sum(delta_balance)::bigint AS amount
FROM ledger
WHERE kind IN ('promo', 'referral', 'welcome', 'topup') AND created_at >= $1
GROUP BY 1
"""


async def _period(conn: asyncpg.Connection, days: int) -> StatsPeriod:
    since = await conn.fetchval(_SINCE, days)
    users = await conn.fetchrow(_USERS, since)
    jobs = await conn.fetch(_JOBS, since)
    revenue = await conn.fetch(_REVENUE, since)
    credits = await conn.fetch(_CREDITS, since)
    return StatsPeriod(
        days=days,
        since=since,
        new_users=users["new_users"],
        active_users=users["active_users"],
        paid_users=users["paid_users"],
        jobs={Mode(r["mode"]): r["jobs"] for r in jobs},
        charged=users["charged"],
        revenue={r["method"]: r["amount"] for r in revenue},
        credits={r["source"]: r["amount"] for r in credits},
        provider_cost=sum(r["cost"] for r in jobs),
    )


async def periods(conn: asyncpg.Connection) -> list[StatsPeriod]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return [await _period(conn, days) for days in PERIOD_DAYS]


_PAID_USERS = "SELECT count(DISTINCT user_id) FROM ledger WHERE kind = 'payment'"


async def paid_users(conn: asyncpg.Connection) -> int:
    """Users who ever paid (any method), for the business dashboard."""
    return int(await conn.fetchval(_PAID_USERS))
