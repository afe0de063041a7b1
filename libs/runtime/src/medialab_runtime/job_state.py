"""Per-job state in the ``jobstate`` KV bucket, so a redelivered job resumes instead of re-running.

A runner remembers provider handles (a fal request id, a WaveSpeed task id) as soon as it has them,
and the final event once it is decided; a redelivery then polls the known task or republishes the
stored event (deduplicated on the stream) without calling the provider again.
"""

from __future__ import annotations

import json
from typing import Any

from medialab_contracts import subjects
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

_FINAL = "final_event"


class JobState:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> JobState:
        return cls(await js.key_value(subjects.JOB_STATE_BUCKET))

    async def _read(self, job_id: str) -> tuple[dict[str, Any], int | None]:
        try:
            entry = await self._kv.get(job_id)
        except KeyNotFoundError:
            return {}, None
        if entry.value is None:
            return {}, None
        return json.loads(entry.value), entry.revision

    async def get(self, job_id: str) -> dict[str, Any]:
        return (await self._read(job_id))[0]

    async def update(self, job_id: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the job's record with compare-and-set, retrying on a race."""
        for _ in range(20):
            current, revision = await self._read(job_id)
            merged = {**current, **fields}
            payload = json.dumps(merged).encode()
            try:
                if revision is None:
                    await self._kv.create(job_id, payload)
                else:
                    await self._kv.update(job_id, payload, last=revision)
                return merged
            except KeyWrongLastSequenceError:
                continue
        raise RuntimeError(f"job state of {job_id} kept changing under us")

    async def final_event(self, job_id: str) -> str | None:
        value = (await self.get(job_id)).get(_FINAL)
        return str(value) if value is not None else None

    async def set_final_event(self, job_id: str, event_json: str) -> None:
        await self.update(job_id, **{_FINAL: event_json})
