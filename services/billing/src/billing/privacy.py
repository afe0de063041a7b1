"""What billing keeps of a user's content, and how it goes: ``/delete_me`` and the retention sweep.

Money rows are never deleted or changed: the ledger's amounts, kinds and job ids, and the operations'
mode, model, price and status, keep every balance and audit sum as it was. What goes is content:
the stored job of an operation (``operations.job``: the prompt, the input object names, the overlay
text) and the user's Telegram names. The job is only needed until billing has handed it to the
JOBS stream, so it is kept while an operation is PENDING.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from medialab_contracts.billing import ForgetReply
from medialab_contracts.errors import Conflict

from billing import metrics
from billing.db import Database
from billing.periodic import every

log = logging.getLogger(__name__)

_PENDING = "SELECT count(*) FROM operations WHERE user_id = $1 AND status = 'PENDING'"

# The input object names are read out of the stored jobs in the same statement that drops them.
_FORGET_JOBS = """
WITH mine AS (
    SELECT job_id, job FROM operations WHERE user_id = $1 FOR UPDATE
), dropped AS (
    UPDATE operations o SET job = NULL, updated_at = now()
    FROM mine WHERE o.job_id = mine.job_id AND mine.job IS NOT NULL
    RETURNING o.job_id
)
SELECT
    (SELECT coalesce(array_agg(job_id ORDER BY job_id), '{}') FROM mine) AS job_ids,
    (SELECT coalesce(array_agg(DISTINCT ref ->> 'object_name'), '{}')
       FROM mine, jsonb_array_elements(coalesce(mine.job -> 'inputs', '[]'::jsonb)) AS ref
      WHERE ref ->> 'object_name' IS NOT NULL) AS object_names,
    (SELECT count(*) FROM dropped) AS anonymised
"""

_FORGET_NAMES = "UPDATE users SET username = NULL, first_name = NULL, email = NULL WHERE user_id = $1"

_EXPIRE_JOBS = """
WITH old AS (
    SELECT job_id FROM operations
    WHERE job IS NOT NULL AND status <> 'PENDING' AND created_at < now() - make_interval(days => $1)
    ORDER BY created_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE operations o SET job = NULL, updated_at = now() FROM old WHERE o.job_id = old.job_id
"""


async def forget_user(conn: asyncpg.Connection, user_id: int) -> ForgetReply:
    """Drop the user's stored jobs and names; refused (``Conflict``) while a job of theirs runs."""
    async with conn.transaction():
        # The user's account row serialises this with a concurrent reserve of the same user.
        await conn.execute("SELECT 1 FROM accounts WHERE user_id = $1 FOR UPDATE", user_id)
        if await conn.fetchval(_PENDING, user_id):
            raise Conflict(f"user {user_id} has jobs in progress")
        row = await conn.fetchrow(_FORGET_JOBS, user_id)
        await conn.execute(_FORGET_NAMES, user_id)
    return ForgetReply(
        user_id=user_id,
        job_ids=list(row["job_ids"]),
        object_names=list(row["object_names"]),
        anonymised=row["anonymised"],
    )


async def expire_jobs(conn: asyncpg.Connection, retention_days: int, batch: int) -> int:
    """Drop up to ``batch`` stored jobs older than the retention; returns how many."""
    status = await conn.execute(_EXPIRE_JOBS, retention_days, batch)
    return int(status.rsplit(" ", 1)[1])


async def run_retention(
    db: Database, retention_days: int, batch: int, interval_s: float, stopping: asyncio.Event
) -> None:
    """The retention sweep: stored jobs past ``RETENTION_DAYS`` lose their content, in batches."""

    async def one_round() -> None:
        while True:
            async with db.connection() as conn:
                dropped = await expire_jobs(conn, retention_days, batch)
            metrics.RETAINED_JOBS_DROPPED.inc(dropped)
            if dropped:
                log.info(
                    "retention: dropped the content of %d jobs older than %d days", dropped, retention_days
                )
            if dropped < batch:
                return

    await every(interval_s, stopping, "retention sweep", one_round)
