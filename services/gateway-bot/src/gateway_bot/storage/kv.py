"""Compare-and-set on NATS KV with JSON values: the one primitive every shared record here uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

JsonValue = Any
_ATTEMPTS = 100


class CasContention(RuntimeError):
    pass


async def read_json(kv: KeyValue, key: str) -> tuple[JsonValue | None, int | None]:
    """The value and its revision; ``(None, None)`` when the key is absent or deleted."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None, None
    if not entry.value:
        return None, entry.revision
    return json.loads(entry.value), entry.revision


async def write_json(kv: KeyValue, key: str, value: JsonValue, revision: int | None) -> int:
    """Write only if the key is still at ``revision`` (absent when None); raises on a lost race."""
    payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if revision is None:
        return await kv.create(key, payload)
    return await kv.update(key, payload, last=revision)


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


async def keys_matching(kv: KeyValue, *patterns: str) -> list[str]:
    """Keys that hold a value now, among those matching subject patterns (``*``, ``>``).

    The server lists the bucket's subjects that match; a key whose latest entry is a delete or purge
    marker is left out. Not a watch: nats-py's watch announces "no more keys" from a consumer-info
    snapshot that can be taken before the last keys reach the client, so on a busy machine it
    returned none (a ``/delete_me`` left a draft behind). nats-py keeps a bucket's JetStream
    context, stream and subject prefix private and has no listing by pattern: they are read here.
    """
    js, stream, prefix = kv._js, kv._stream, kv._pre
    found: list[str] = []
    for pattern in patterns:
        info = await js.stream_info(stream, subjects_filter=prefix + pattern)
        for subject in sorted(info.state.subjects or {}):
            key = subject[len(prefix) :]
            try:
                await kv.get(key)
            except KeyNotFoundError:  # KeyDeletedError too: the key's latest entry is a marker
                continue
            found.append(key)
    return list(dict.fromkeys(found))
