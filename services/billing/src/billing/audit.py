"""The periodic ledger audit: checks the invariant of ``billing.ledger`` and exports it as gauges."""

from __future__ import annotations

import asyncio
import logging
import time

from billing import ledger, metrics, stats
from billing.db import Database
from billing.periodic import every

log = logging.getLogger(__name__)


async def audit_once(db: Database) -> ledger.ConsistencyReport:
    async with db.connection() as conn:
        report = await ledger.check_consistency(conn)
        pending, pending_kopecks = await ledger.pending_totals(conn)
        paid_users = await stats.paid_users(conn)
    metrics.PAID_USERS.set(paid_users)
    metrics.PENDING.set(pending)
    metrics.PENDING_KOPECKS.set(pending_kopecks)
    metrics.LEDGER_CONSISTENT.set(1 if report.ok else 0)
    metrics.LEDGER_MISMATCHES.set(len(report.account_mismatches) + len(report.operation_mismatches))
    metrics.LEDGER_CHECKED.set(time.time())
    if not report.ok:
        log.error(
            "ledger invariant broken: accounts %s, operations %s",
            report.account_mismatches[:10],
            report.operation_mismatches[:10],
        )
    return report


async def run_audit(db: Database, interval_s: float, stopping: asyncio.Event) -> None:
    async def one_round() -> None:
        await audit_once(db)

    await every(interval_s, stopping, "ledger audit", one_round)
