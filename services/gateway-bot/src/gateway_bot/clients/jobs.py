"""Publishing jobs to JOBS, and reading a finished job's result back from EVENTS."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.events import JobSucceeded, parse_job_event
from medialab_contracts.jobs import JobRequest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError


class JobsClient:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def publish(self, job: JobRequest) -> None:
        # Nats-Msg-Id = job id: a retried publish is dropped by the stream's dedup window.
        await self._js.publish(
            job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id}
        )

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
