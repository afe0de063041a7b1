"""Assembling a Telegram album (one update per part) exactly once, whichever replica gets each part.

Each part is first announced (so the album knows it is coming), then filled with its stored image or
its error. A part's handler, after filling, waits a debounce; if nothing changed meanwhile and every
announced part is filled, it claims the album with a compare-and-set on the revision it saw. Exactly
one handler wins that claim and answers for the whole album.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from medialab_contracts.media import MediaRef
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from gateway_bot.storage.kv import cas_update, claim, read_json, write_json


@dataclass(frozen=True)
class AlbumPart:
    message_id: int
    ref: MediaRef | None = None
    error: str | None = None  # the failure's class name when the part was refused
    caption: str | None = None


class AlbumCollector:
    def __init__(self, kv: KeyValue, debounce_s: float) -> None:
        self._kv = kv
        self._debounce_s = debounce_s

    @staticmethod
    def key(chat_id: int, media_group_id: str) -> str:
        return f"{chat_id}.{media_group_id}"

    async def announce(self, key: str, message_id: int) -> bool:
        """Register a part; False if the album was already claimed (a straggler)."""
        late = False

        def add(cur: dict[str, Any] | None) -> dict[str, Any]:
            nonlocal late
            cur = cur or {"parts": {}, "claimed": False}
            late = bool(cur["claimed"])
            if late:
                return cur
            return {**cur, "parts": {**cur["parts"], str(message_id): None}}

        await cas_update(self._kv, key, add)
        return not late

    async def fill(self, key: str, part: AlbumPart) -> list[AlbumPart] | None:
        """Record the part's outcome; the whole album (in message order) if this call claimed it."""
        payload = {
            "ref": part.ref.model_dump(mode="json") if part.ref else None,
            "error": part.error,
            "caption": part.caption,
        }

        def put(cur: dict[str, Any] | None) -> dict[str, Any]:
            cur = cur or {"parts": {}, "claimed": False}
            return {**cur, "parts": {**cur["parts"], str(part.message_id): payload}}

        _, revision = await cas_update(self._kv, key, put)
        await asyncio.sleep(self._debounce_s)
        value, current = await read_json(self._kv, key)
        if current != revision or value is None or value["claimed"]:
            return None  # a later part changed it: that part's handler decides
        if any(filled is None for filled in value["parts"].values()):
            return None  # a part still downloading will claim when it is filled
        try:
            await write_json(self._kv, key, {**value, "claimed": True}, revision)
        except KeyWrongLastSequenceError:
            return None
        return [
            AlbumPart(
                message_id=int(mid),
                ref=MediaRef.model_validate(p["ref"]) if p["ref"] else None,
                error=p["error"],
                caption=p["caption"],
            )
            for mid, p in sorted(value["parts"].items(), key=lambda item: int(item[0]))
        ]

    async def first_part(self, key: str) -> bool:
        """True for exactly one part of an album: for answering an album once where none is wanted."""
        return await claim(self._kv, f"{key}.once", True)
