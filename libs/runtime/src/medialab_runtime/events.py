"""Publishing job events to the EVENTS stream, deduplicated by ``{job_id}:{kind}`` for final kinds."""

from __future__ import annotations

from medialab_contracts.events import JobEventBase
from medialab_contracts.subjects import event_msg_id
from nats.js import JetStreamContext

from medialab_runtime.metrics import MESSAGES

_DEDUPLICATED_KINDS = frozenset({"accepted", "succeeded", "failed"})


class EventPublisher:
    def __init__(self, js: JetStreamContext, service: str) -> None:
        self._js = js
        self._service = service

    async def publish(self, event: JobEventBase) -> None:
        kind: str = event.kind  # type: ignore[attr-defined]
        headers = {"Nats-Msg-Id": event_msg_id(event.job_id, kind)} if kind in _DEDUPLICATED_KINDS else None
        await self._js.publish(event.subject, event.model_dump_json().encode(), headers=headers)
        MESSAGES.labels(self._service, f"events.job.*.{kind}", "out").inc()
