"""Which keys of a NATS KV bucket hold a value now, listed by the server: not by a watch."""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue


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
