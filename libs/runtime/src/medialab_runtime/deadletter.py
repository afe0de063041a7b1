"""Turns JetStream's MAX_DELIVERIES advisory into ``failed(dead_letter)`` so billing releases.

The consumer loop already fails a job on its last delivery; this catches the case where the
process died during that last delivery and the message was never answered.
"""

from __future__ import annotations

import json
import logging

from medialab_contracts import subjects
from medialab_contracts.events import DeadLetter, FailureReason
from medialab_contracts.jobs import JobRequest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import JobState
from medialab_runtime.jobs import failed_event

log = logging.getLogger(__name__)


class DeadLetterWatcher:
    def __init__(
        self, nc: Client, js: JetStreamContext, events: EventPublisher, state: JobState, consumer: str
    ) -> None:
        self._nc = nc
        self._js = js
        self._events = events
        self._state = state
        self._consumer = consumer
        self._sub: Subscription | None = None

    async def start(self) -> None:
        subject = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{subjects.JOBS_STREAM}.{self._consumer}"
        # A queue group: with several replicas one of them handles each advisory.
        self._sub = await self._nc.subscribe(subject, queue=f"{self._consumer}-dlq", cb=self._on_advisory)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_advisory(self, msg: Msg) -> None:
        try:
            advisory = json.loads(msg.data)
            seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries", 0))
        except (ValueError, KeyError, TypeError):
            log.error("unreadable max-deliveries advisory")
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
        record = DeadLetter(job_id=job.job_id, stream_seq=seq, deliveries=deliveries, consumer=self._consumer)
        await self._js.publish(
            f"{subjects.DEAD_LETTER_SUBJECT_PREFIX}.{job.job_id}",
            record.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"{job.job_id}:deadletter"},
        )
        await self._js.delete_msg(subjects.JOBS_STREAM, seq)
        log.warning("job %s dead-lettered after %d deliveries", job.job_id, deliveries)
