"""The images a flow has collected so far, shared by replicas (KV ``gateway``, key ``inputs.<flow>``).

Uploads of one flow may be handled at the same time (an album, quick single photos, two replicas), so
the list changes only by compare-and-set. ``pending`` counts uploads still being downloaded, so the
instruction that follows an album waits for its images instead of racing them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from medialab_contracts.media import MediaRef
from nats.js.kv import KeyValue

from gateway_bot.failures import TooManyImages
from gateway_bot.storage.kv import cas_update, read_json


class FlowInputs:
    def __init__(self, kv: KeyValue, wait_s: float, poll_s: float = 0.1) -> None:
        self._kv = kv
        self._wait_s = wait_s
        self._poll_s = poll_s

    @staticmethod
    def _key(flow: str) -> str:
        return f"inputs.{flow}"

    async def expect(self, flow: str, count: int = 1) -> None:
        def bump(cur: dict[str, Any] | None) -> dict[str, Any]:
            cur = cur or {"refs": [], "pending": 0}
            return {**cur, "pending": cur["pending"] + count}

        await cas_update(self._kv, self._key(flow), bump)

    async def settle(self, flow: str, refs: list[MediaRef], *, arrived: int, max_count: int) -> int:
        """Add ``refs`` for ``arrived`` expected uploads; all or none of them (over ``max_count``: none)."""
        rejected = False

        def add(cur: dict[str, Any] | None) -> dict[str, Any]:
            nonlocal rejected
            cur = cur or {"refs": [], "pending": arrived}
            pending = max(0, cur["pending"] - arrived)
            rejected = len(cur["refs"]) + len(refs) > max_count
            added = [] if rejected else [ref.model_dump(mode="json") for ref in refs]
            return {"refs": cur["refs"] + added, "pending": pending}

        record, _ = await cas_update(self._kv, self._key(flow), add)
        if rejected:
            raise TooManyImages(max_count)
        return len(record["refs"])

    async def preload(self, flow: str, refs: list[MediaRef]) -> None:
        value = {"refs": [ref.model_dump(mode="json") for ref in refs], "pending": 0}
        await cas_update(self._kv, self._key(flow), lambda _cur: value)

    async def count(self, flow: str) -> int:
        value, _ = await read_json(self._kv, self._key(flow))
        return len(value["refs"]) if value else 0

    async def collected(self, flow: str) -> list[MediaRef]:
        """The flow's images once no upload is pending (or after the wait limit, with what is there)."""
        deadline = time.monotonic() + self._wait_s
        while True:
            value, _ = await read_json(self._kv, self._key(flow))
            value = value or {"refs": [], "pending": 0}
            if value["pending"] <= 0 or time.monotonic() >= deadline:
                return [MediaRef.model_validate(ref) for ref in value["refs"]]
            await asyncio.sleep(self._poll_s)
