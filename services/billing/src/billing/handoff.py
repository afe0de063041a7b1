"""Reserved but maybe never published: billing hands such jobs to the JOBS stream again.

Billing queues a job itself right after reserving it (only billing may publish to ``jobs.>``, and
runners run only jobs billing signed, so nothing runs without a reservation), with
``Nats-Msg-Id = job_id``. A billing that died or lost
NATS between the two would leave the money held and the user untold until the job's deadline. So each
reservation still PENDING ``handoff_after_s`` after it was made has its job published once more with
the same msg id: the stream drops the copy of a job that was published (its dedup window, an hour, is
far longer than this wait) and takes the one that was not. The publish ack says which it was.

Each reservation is looked at once, in a transaction that commits only after its publish: if
publishing fails, the next pass tries again.

Every job billing queues, first or handed over, carries billing's signature (``JOB_SIGNING_KEY``,
``medialab_contracts.signing``): runners run nothing else, so a job that reached the stream past
billing is never run.
"""

from __future__ import annotations

import asyncio
import logging

from medialab_contracts.jobs import JobRequest
from medialab_contracts.signing import JOB_SIGNATURE_HEADER, sign_job
from nats.js import JetStreamContext
from pydantic import ValidationError

from billing import ledger, metrics
from billing.db import Database

log = logging.getLogger(__name__)


async def publish_job(js: JetStreamContext, job: JobRequest, signing_key: bytes | None) -> bool:
    """Queue a reserved job, signed with ``signing_key`` when there is one; False when the stream
    already had it (its msg id is the job id)."""
    body = job.model_dump_json().encode()
    headers = {"Nats-Msg-Id": job.job_id}
    if signing_key is not None:
        headers[JOB_SIGNATURE_HEADER] = sign_job(signing_key, body)
    ack = await js.publish(job.subject, body, headers=headers)
    return not ack.duplicate


async def _hand_over(js: JetStreamContext, job_id: str, payload: str, signing_key: bytes | None) -> bool:
    """Publish the stored job; True when the stream did not have it (the first publish was lost)."""
    try:
        job = JobRequest.model_validate_json(payload)
    except ValidationError:
        log.error("stored job of %s is unreadable; its deadline will release it", job_id)
        return False
    if not await publish_job(js, job, signing_key):
        return False
    log.warning("job %s was reserved but never published; billing published it", job_id)
    return True


async def handoff_once(
    db: Database, js: JetStreamContext, after_s: float, batch: int, signing_key: bytes | None
) -> int:
    """Hand over up to ``batch`` due reservations; returns how many were looked at."""
    async with db.connection() as conn, conn.transaction():
        due = await ledger.handoff_due(conn, after_s, batch)
        handed = await asyncio.gather(
            *(_hand_over(js, job_id, payload, signing_key) for job_id, payload in due)
        )
    metrics.JOBS_HANDED_OVER.inc(sum(handed))
    return len(due)
