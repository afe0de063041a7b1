"""Turns JetStream's MAX_DELIVERIES advisory into ``failed(dead_letter)`` so billing releases.

The consumer loop already fails a job on its last delivery; this catches the case where the
process died during that last delivery and the message was never answered. The advisories are kept
in the ``ADVISORIES`` stream and read through a durable consumer per job consumer, so one that fires
while every replica is down or disconnected is handled when one is back (a plain subscription would
have missed it, leaving the job to billing's sweeper at its deadline).
"""

from __future__ import annotations

import asyncio
import json
import logging

from medialab_contracts import subjects
from medialab_contracts.events import DeadLetter, FailureReason
from medialab_contracts.jobs import JobRequest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from medialab_runtime.durable import DurableConsumer
from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import JobState
from medialab_runtime.jobs import failed_event
from medialab_runtime.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_DELAY_S = 2.0
GRACE_S = 2.0


class DeadLetterWatcher:
    def __init__(self, js: JetStreamContext, events: EventPublisher, state: JobState, consumer: str) -> None:
        self._js = js
        self._events = events
        self._state = state
        self._watched = consumer
        self._consumer = DurableConsumer(
            js,
            subjects.ADVISORIES_STREAM,
            ConsumerConfig(
                durable_name=f"{consumer}-deadletters",
                filter_subject=subjects.max_deliveries_advisory(consumer),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=30,
                max_deliver=20,
            ),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.ensure()
        self._task = asyncio.create_task(self._consumer.run(4, self._process), name=self._consumer.durable)

    async def stop(self) -> None:
        await self._consumer.stop(GRACE_S)
        if self._task is not None:
            await cancel_and_wait([self._task])

    async def _process(self, msg: Msg) -> None:
        try:
            await self._on_advisory(msg)
        except Exception:
            log.exception("dead letter not handled; retrying")
            await msg.nak(delay=RETRY_DELAY_S)
        else:
            await msg.ack()

    async def _on_advisory(self, msg: Msg) -> None:
        try:
            advisory = json.loads(msg.data)
            seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries", 0))
        except (ValueError, KeyError, TypeError):
            log.error("unreadable max-deliveries advisory")  # acked: it cannot become readable
            return
        try:
            raw = await self._js.get_msg(subjects.JOBS_STREAM, seq)
        except NotFoundError:
            return  # already acked or removed
        try:
            job = JobRequest.model_validate_json(raw.data or b"")
        except ValidationError:
            await self._js.delete_msg(subjects.JOBS_STREAM, seq)
            return
        if await self._state.final_event(job.job_id) is None:
            event = failed_event(job, FailureReason.dead_letter, f"{deliveries} deliveries")
            await self._state.set_final_event(job.job_id, event.model_dump_json())
            await self._events.publish(event)
        record = DeadLetter(job_id=job.job_id, stream_seq=seq, deliveries=deliveries, consumer=self._watched)
        await self._js.publish(
            f"{subjects.DEAD_LETTER_SUBJECT_PREFIX}.{job.job_id}",
            record.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"{job.job_id}:deadletter"},
        )
        await self._js.delete_msg(subjects.JOBS_STREAM, seq)
        log.warning("job %s dead-lettered after %d deliveries", job.job_id, deliveries)
