"""No stuck money: release PENDING operations past their deadline and tell the user (``failed(timeout)``);
the same loop hands over jobs whose caller died before publishing them (``billing.handoff``).

Each sweep is one transaction: the expired rows are locked ``FOR UPDATE SKIP LOCKED`` (replicas
split the work), released, their ``failed`` events are stored on JetStream, and only then does the
transaction commit. If publishing fails, nothing was released and the next sweep tries again; if
the process dies after publishing, the next sweep publishes again and ``Nats-Msg-Id`` drops the copy.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from medialab_contracts.events import FailureReason, JobFailed
from medialab_contracts.subjects import event_msg_id
from nats.js import JetStreamContext

from billing import ledger, metrics
from billing.db import Database
from billing.handoff import handoff_once
from billing.periodic import every
from billing.settings import BillingSettings

log = logging.getLogger(__name__)


def timeout_event(op: ledger.Expired) -> JobFailed:
    return JobFailed(
        job_id=op.job_id,
        user_id=op.user_id,
        chat_id=op.chat_id,
        mode=op.mode,
        reason=FailureReason.timeout,
        detail="billing released the reservation after its deadline",
    )


async def publish_failed(js: JetStreamContext, event: JobFailed) -> None:
    await js.publish(
        event.subject,
        event.model_dump_json().encode(),
        headers={"Nats-Msg-Id": event_msg_id(event.job_id, event.kind)},
    )


async def sweep_once(db: Database, js: JetStreamContext, batch: int) -> list[ledger.Expired]:
    """Release up to ``batch`` expired reservations; returns what was released."""
    async with db.connection() as conn, conn.transaction():
        expired = await ledger.expire_due(conn, batch)
        await asyncio.gather(*(publish_failed(js, timeout_event(op)) for op in expired))
    for op in expired:
        log.info(
            "released job %s of user %d after its deadline (%d kopecks)", op.job_id, op.user_id, op.price
        )
        metrics.RELEASES.labels(FailureReason.timeout.value, op.mode.value).inc()
        metrics.RELEASED_KOPECKS.labels(op.mode.value).inc(op.price)
    metrics.SWEPT.inc(len(expired))
    return expired


async def run_sweeper(
    db: Database, js: JetStreamContext, settings: BillingSettings, stopping: asyncio.Event
) -> None:
    async def one_round() -> None:
        try:
            # A full batch means more may be due: go again at once.
            while len(await sweep_once(db, js, settings.sweeper_batch)) == settings.sweeper_batch:
                pass
            key = settings.job_signing_secret
            while await handoff_once(db, js, settings.handoff_after_s, settings.sweeper_batch, key) == (
                settings.sweeper_batch
            ):
                pass
        except asyncpg.DeadlockDetectedError:
            log.info("sweep collided with another replica; next round retries")

    await every(settings.sweeper_interval_s, stopping, "sweep", one_round)
