"""aiogram FSM storage over the NATS KV bucket ``fsm``, so every gateway replica sees one conversation.

One record per chat and user holds both the state and the data; every change is a compare-and-set,
so two replicas writing at once never lose each other's update. The record's last revision this
replica saw is remembered (``RememberingCas``): the write after an update's read is one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from nats.js.kv import KeyValue

from gateway_bot.storage.kv import RememberingCas


def _state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


class KvStorage(BaseStorage):
    def __init__(self, kv: KeyValue, key_builder: KeyBuilder | None = None) -> None:
        self._records = RememberingCas(kv)
        # KV keys allow [-/_=.a-zA-Z0-9]: dots as separators, negative chat ids keep their minus.
        self._keys = key_builder or DefaultKeyBuilder(prefix="fsm", separator=".", with_bot_id=True)

    async def _record(self, key: StorageKey) -> dict[str, Any]:
        return await self._records.read(self._keys.build(key)) or {}

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = _state_name(state)
        await self._records.update(self._keys.build(key), lambda cur: {**(cur or {}), "state": name})

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._record(key)).get("state")

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        new = dict(data)
        await self._records.update(self._keys.build(key), lambda cur: {**(cur or {}), "data": new})

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict((await self._record(key)).get("data") or {})

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge in one compare-and-set, not a read then a blind write."""
        patch = dict(data)

        def merge(cur: dict[str, Any] | None) -> dict[str, Any]:
            record = dict(cur or {})
            record["data"] = {**(record.get("data") or {}), **patch}
            return record

        record, _ = await self._records.update(self._keys.build(key), merge)
        return dict(record["data"])

    async def end_flow(self, key: StorageKey, flow: str | None) -> bool:
        """Clear the state and the data in one compare-and-set if the conversation is still ``flow``
        (the draft's flow id); False, and the record left as it is, when another one began since."""
        ended = False

        def end(cur: dict[str, Any] | None) -> dict[str, Any]:
            nonlocal ended
            record = cur or {}
            ended = (record.get("data") or {}).get("flow") == flow
            return {} if ended else record

        await self._records.update(self._keys.build(key), end)
        return ended

    async def close(self) -> None:
        """The KV bucket belongs to the service's NATS connection, which the service closes."""
