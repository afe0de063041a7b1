"""The gateway's own shared records in the KV bucket ``gateway`` (every replica sees them).

- ``status.<job_id>``: the job's status message (chat, message id, last edit) so any replica can edit it;
- ``delivered.<job_id>``: a delivery claim, so a redelivered final event is not sent twice;
- ``sent.<job_id>.<part>``: a part of a result already out (a preview, a document), so a delivery
  retried after a failure in the middle sends only what is missing;
- ``update.<bot_id>.<update_id>``: updates already taken, so a duplicate update is processed once;
- ``launch.<user_id>.<flow>``: the press of «✅ Запустить» that took the flow's waiting order;
- ``order.<job_id>``: what the user asked for (the launcher's order), so a job a safety filter refused
  can be rephrased; ``rephrase.<job_id>``: that offer taken, once per job.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from medialab_contracts import subjects
from medialab_contracts.modes import Mode
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from gateway_bot.storage.kv import cas_update, claim, read_json, write_json


async def open_gateway_bucket(js: JetStreamContext, ttl_s: float) -> KeyValue:
    try:
        return await js.create_key_value(
            KeyValueConfig(bucket=subjects.GATEWAY_BUCKET, ttl=ttl_s, storage=StorageType.FILE)
        )
    except BadRequestError:  # exists already, perhaps with another TTL: keep it
        return await js.key_value(subjects.GATEWAY_BUCKET)


@dataclass(frozen=True)
class StatusRecord:
    chat_id: int
    message_id: int
    mode: Mode
    price: int
    note: str | None = None
    last_edit: float = 0.0
    done: bool = False


class StatusRecords:
    """A job's status record goes from absent to open (its message is out) to closed (the job ended).

    A job's final event may be delivered before its status message is out (the job is published
    first); closing then leaves a bare closed record, so the late message is known to be unwanted.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @staticmethod
    def _key(job_id: str) -> str:
        return f"status.{job_id}"

    async def create(self, job_id: str, record: StatusRecord) -> bool:
        """Store the record of a message just sent; False when the job was closed meanwhile."""
        return await claim(self._kv, self._key(job_id), asdict(record))

    async def closed(self, job_id: str) -> bool:
        value, _ = await read_json(self._kv, self._key(job_id))
        return bool(value and value.get("done"))

    async def take_edit_slot(self, job_id: str, min_interval_s: float) -> StatusRecord | None:
        """The record if an edit is due now (and marks it done); None if too soon, finished or unknown."""
        value, revision = await read_json(self._kv, self._key(job_id))
        record = _open_record(value)
        now = time.time()
        if record is None or now - record.last_edit < min_interval_s:
            return None
        updated = replace(record, last_edit=now)
        try:
            await write_json(self._kv, self._key(job_id), asdict(updated), revision)
        except KeyWrongLastSequenceError:
            return None  # another replica edits right now
        return updated

    async def finish(self, job_id: str) -> StatusRecord | None:
        """Close the record; the open record as it was, or None if there was none or it was closed already."""
        seen: list[StatusRecord] = []

        def close(cur: dict[str, Any] | None) -> dict[str, Any]:
            if cur and cur.get("done"):
                raise _NothingToFinish
            record = _open_record(cur)
            seen[:] = [record] if record else []
            return {**(cur or {}), "done": True}

        try:
            await cas_update(self._kv, self._key(job_id), close)
        except _NothingToFinish:
            return None
        return seen[0] if seen else None


def _open_record(value: dict[str, Any] | None) -> StatusRecord | None:
    if not value or value.get("done"):
        return None
    return StatusRecord(**value)


class _NothingToFinish(Exception):
    pass


class DeliveryState(StrEnum):
    sending = "sending"
    done = "done"


class Claim(StrEnum):
    granted = "granted"
    done = "done"  # delivered already
    busy = "busy"  # another replica is sending right now


class DeliveryMarks:
    """At-least-once delivery with no duplicates unless a sender died mid-send (then its claim goes stale)."""

    def __init__(self, kv: KeyValue, stale_after_s: float) -> None:
        self._kv = kv
        self._stale_after_s = stale_after_s

    @staticmethod
    def _key(job_id: str) -> str:
        return f"delivered.{job_id}"

    async def claim(self, job_id: str) -> Claim:
        key = self._key(job_id)
        mark = {"state": DeliveryState.sending, "at": time.time()}
        if await claim(self._kv, key, mark):
            return Claim.granted
        value, revision = await read_json(self._kv, key)
        if value is None:
            return await self.claim(job_id)
        if value["state"] == DeliveryState.done:
            return Claim.done
        if time.time() - float(value["at"]) < self._stale_after_s:
            return Claim.busy
        try:
            await write_json(self._kv, key, mark, revision)
        except KeyWrongLastSequenceError:
            return Claim.busy
        return Claim.granted

    async def done(self, job_id: str) -> None:
        await cas_update(
            self._kv, self._key(job_id), lambda _c: {"state": DeliveryState.done, "at": time.time()}
        )

    async def release(self, job_id: str) -> None:
        """Give the claim back after a failed send so a redelivery retries at once."""
        await self._kv.delete(self._key(job_id))


class SentParts:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @staticmethod
    def _key(job_id: str, part: str) -> str:
        return f"sent.{job_id}.{part}"

    async def outcome(self, job_id: str, part: str) -> str | None:
        """What became of the part: ``sent``, why it cannot be sent, or None when not tried yet."""
        value, _ = await read_json(self._kv, self._key(job_id, part))
        return None if value is None else str(value)

    async def record(self, job_id: str, part: str, outcome: str) -> None:
        await claim(self._kv, self._key(job_id, part), outcome)


class OrderRecords:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def save(self, job_id: str, order: dict[str, Any]) -> None:
        await claim(self._kv, f"order.{job_id}", order)

    async def load(self, job_id: str) -> dict[str, Any] | None:
        value, _ = await read_json(self._kv, f"order.{job_id}")
        return value if isinstance(value, dict) else None

    async def take_rephrase(self, job_id: str) -> bool:
        """True for the first press of the job's «Переформулировать» only."""
        return await claim(self._kv, f"rephrase.{job_id}", time.time())


class SeenUpdates:
    def __init__(self, kv: KeyValue, bot_id: int) -> None:
        self._kv = kv
        self._bot_id = bot_id

    async def first_time(self, update_id: int) -> bool:
        return await claim(self._kv, f"update.{self._bot_id}.{update_id}", time.time())


class LaunchClaims:
    """One press per waiting order: a double tap, or two presses handled by two replicas, starts one job."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def first(self, user_id: int, flow: str) -> bool:
        return await claim(self._kv, f"launch.{user_id}.{flow}", time.time())
