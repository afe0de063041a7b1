"""Compare-and-set on NATS KV with JSON values: the one primitive every shared record here uses."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

JsonValue = Any
_ATTEMPTS = 100


class CasContention(RuntimeError):
    pass


async def _read_payload(kv: KeyValue, key: str) -> tuple[bytes, int | None]:
    """The stored JSON (``null`` for an empty entry) and its revision; no revision when absent."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return b"null", None
    return entry.value or b"null", entry.revision


async def read_json(kv: KeyValue, key: str) -> tuple[JsonValue | None, int | None]:
    """The value and its revision; ``(None, None)`` when the key is absent or deleted."""
    payload, revision = await _read_payload(kv, key)
    return json.loads(payload), revision


def _encode(value: JsonValue) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


async def _write_payload(kv: KeyValue, key: str, payload: bytes, revision: int | None) -> int:
    if revision is None:
        return await kv.create(key, payload)
    return await kv.update(key, payload, last=revision)


async def write_json(kv: KeyValue, key: str, value: JsonValue, revision: int | None) -> int:
    """Write only if the key is still at ``revision`` (absent when None); raises on a lost race."""
    return await _write_payload(kv, key, _encode(value), revision)


async def cas_update(
    kv: KeyValue, key: str, change: Callable[[JsonValue | None], JsonValue]
) -> tuple[JsonValue, int]:
    """Apply ``change`` to the current value until the write wins; ``change`` may raise to abort."""
    for _ in range(_ATTEMPTS):
        current, revision = await read_json(kv, key)
        new = change(current)
        try:
            return new, await write_json(kv, key, new, revision)
        except KeyWrongLastSequenceError:
            continue
    raise CasContention(f"{key} kept changing under us")


async def claim(kv: KeyValue, key: str, value: JsonValue) -> bool:
    """Create ``key`` if absent: true for exactly one caller."""
    try:
        await write_json(kv, key, value, None)
    except KeyWrongLastSequenceError:
        return False
    return True


class RememberingCas:
    """``cas_update`` that remembers the value and revision this process read or wrote last per key
    (the most recent ``capacity`` keys): changing a key nobody else moved since is then one
    conditional write instead of a read and a write. When another replica moved it, the write's
    revision check fails and the change is made from a fresh read, as ``cas_update`` makes it."""

    def __init__(self, kv: KeyValue, capacity: int = 4096) -> None:
        self._kv = kv
        self._capacity = capacity
        # key → (the value encoded, so no caller's change to what it got can alter it; its revision)
        self._known: OrderedDict[str, tuple[bytes, int]] = OrderedDict()

    async def read(self, key: str) -> JsonValue | None:
        payload, revision = await _read_payload(self._kv, key)
        if revision is None:
            self._known.pop(key, None)
        else:
            self._remember(key, payload, revision)
        return json.loads(payload)

    async def update(
        self, key: str, change: Callable[[JsonValue | None], JsonValue]
    ) -> tuple[JsonValue, int]:
        known = self._known.pop(key, None)
        if known is not None:
            payload, revision = known
            new = change(json.loads(payload))
            payload = _encode(new)
            try:
                revision = await _write_payload(self._kv, key, payload, revision)
            except KeyWrongLastSequenceError:
                pass
            else:
                self._remember(key, payload, revision)
                return new, revision
        new, revision = await cas_update(self._kv, key, change)
        self._remember(key, _encode(new), revision)
        return new, revision

    def _remember(self, key: str, payload: bytes, revision: int) -> None:
        self._known[key] = (payload, revision)
        self._known.move_to_end(key)
        if len(self._known) > self._capacity:
            self._known.popitem(last=False)
