"""Per-job state in the ``jobstate`` KV bucket, so a redelivered job resumes instead of re-running.

A runner remembers provider handles (a fal request id, a WaveSpeed task id) as soon as it has them,
and the final event once it is decided; a redelivery then polls the known task or republishes the
stored event (deduplicated on the stream) without calling the provider again.

❌ Отменить meets the runner on the same record, by compare-and-set, so exactly one side wins: the
runner marks the job ``started`` before it calls the provider, billing marks it ``cancel`` — a job
cancelled before it started never starts (and billing releases it at once); one cancelled after is
cancelled by its runner at the provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from medialab_contracts import subjects
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

_FINAL = "final_event"
_STARTED = "started"
_CANCEL = "cancel"


class CancelMark(StrEnum):
    queued = "queued"  # cancelled before any runner started it: it must never start
    requested = "requested"  # cancelled while running: the runner stops it at the provider


class _Decided(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


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
        return await self._change(job_id, lambda current: {**current, **fields})

    async def _change(
        self, job_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """Apply ``change`` (current record → new one; may raise ``_Decided`` to write nothing)."""
        for _ in range(20):
            current, revision = await self._read(job_id)
            merged = change(current)
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

    async def start(self, job_id: str) -> bool:
        """Mark the job started before it reaches a provider; False if it was cancelled first."""

        def mark(current: dict[str, Any]) -> dict[str, Any]:
            if current.get(_CANCEL) == CancelMark.queued:
                raise _Decided(False)
            if current.get(_STARTED):
                raise _Decided(True)  # a redelivery: started by an earlier attempt
            return {**current, _STARTED: True}

        try:
            await self._change(job_id, mark)
        except _Decided as decided:
            return bool(decided.value)
        return True

    async def cancel(self, job_id: str) -> CancelMark | None:
        """Billing's side: ``queued`` if no runner started the job (it never will), ``requested`` if
        one did (it stops it at the provider), None if the job has ended already."""

        def mark(current: dict[str, Any]) -> dict[str, Any]:
            if current.get(_FINAL) is not None:
                raise _Decided(None)
            if current.get(_CANCEL) is not None:
                raise _Decided(CancelMark(current[_CANCEL]))  # pressed twice: the first answer holds
            wanted = CancelMark.requested if current.get(_STARTED) else CancelMark.queued
            return {**current, _CANCEL: wanted.value}

        try:
            record = await self._change(job_id, mark)
        except _Decided as decided:
            return decided.value  # type: ignore[no-any-return]
        return CancelMark(record[_CANCEL])

    async def cancel_requested(self, job_id: str) -> bool:
        return (await self.get(job_id)).get(_CANCEL) == CancelMark.requested
