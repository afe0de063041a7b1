"""Reading a finished job's result back from EVENTS (billing queues the jobs)."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.events import JobSucceeded, parse_job_event
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError


class JobsClient:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def result(self, job_id: str) -> JobSucceeded | None:
        """The job's success event, the source of truth for buttons bound to a result."""
        try:
            msg = await self._js.get_last_msg(
                subjects.EVENTS_STREAM, subjects.event_subject(job_id, "succeeded")
            )
        except NotFoundError:
            return None
        try:
            event = parse_job_event(msg.data or b"")
        except ValidationError:
            return None
        return event if isinstance(event, JobSucceeded) else None
