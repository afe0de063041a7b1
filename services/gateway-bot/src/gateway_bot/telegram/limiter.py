"""Outbound Telegram rate limits shared by every replica: GCRA buckets in the KV bucket ``tglimits``.

Each scope (the bot overall, a chat, a group) keeps one number, its theoretical arrival time (TAT).
Taking a slot is one compare-and-set that moves the TAT forward by the emission interval and returns
how long the caller must wait for its slot; a ``retry_after`` from Telegram pushes the scope's TAT past
the penalty. Slots are handed out in call order, so one chat's messages keep their order.

A replica remembers the TAT it wrote last for each scope (``RememberingCas``): the next slot of a
scope no one else moved since, the bot-wide one above all, is one conditional write, not a read and
a write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from nats.js.kv import KeyValue

from gateway_bot.locks import KeyedLocks
from gateway_bot.storage.kv import RememberingCas, cas_update


class Scope(StrEnum):
    global_ = "global"
    chat = "chat"
    group = "group"


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        return self.interval * (self.burst - 1)

    def take(self, tat: float | None, now: float) -> tuple[float, float]:
        """GCRA: seconds until a slot taken now may be used, and the scope's TAT once it is taken."""
        current = max(tat or 0.0, now)
        return max(0.0, current - self.tolerance - now), current + self.interval


@dataclass(frozen=True)
class Limits:
    global_: Rate
    chat: Rate
    group: Rate

    def of(self, scope: Scope) -> Rate:
        return {Scope.global_: self.global_, Scope.chat: self.chat, Scope.group: self.group}[scope]


def scopes_for(chat_id: int | None) -> list[tuple[Scope, int | None]]:
    """Narrowest first: a chat's slot may be seconds away, the bot-wide one a few milliseconds."""
    if chat_id is None:
        return [(Scope.global_, None)]
    scopes: list[tuple[Scope, int | None]] = [(Scope.chat, chat_id)]
    if chat_id < 0:
        scopes.append((Scope.group, chat_id))
    scopes.append((Scope.global_, None))
    return scopes


class TelegramLimiter:
    def __init__(
        self,
        kv: KeyValue,
        bot_id: int,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._bot_id = bot_id
        self._limits = limits
        self._clock = clock
        # Within one process, reservations of a key are made one at a time, so slots follow call order.
        self._locks = KeyedLocks()
        self._tats = RememberingCas(kv)

    def _key(self, scope: Scope, chat_id: int | None) -> str:
        return f"{self._bot_id}.{scope}" if chat_id is None else f"{self._bot_id}.{scope}.{chat_id}"

    async def reserve(self, scope: Scope, chat_id: int | None) -> float:
        """Take the next slot of a scope; seconds to wait until it."""
        rate = self._limits.of(scope)
        key = self._key(scope, chat_id)
        wait = 0.0

        def take(tat: float | None) -> float:
            nonlocal wait
            wait, taken = rate.take(tat, self._clock())
            return taken

        async with self._locks.hold(key):
            await self._tats.update(key, take)
        return wait

    async def acquire(self, chat_id: int | None) -> None:
        for scope, scope_chat in scopes_for(chat_id):
            wait = await self.reserve(scope, scope_chat)
            if wait > 0:
                await asyncio.sleep(wait)

    async def penalize(self, scope: Scope, chat_id: int | None, retry_after: float) -> None:
        """Telegram said wait ``retry_after``: nobody sends in this scope before then."""
        rate = self._limits.of(scope)
        blocked_until = self._clock() + retry_after + rate.tolerance
        await cas_update(self._kv, self._key(scope, chat_id), lambda tat: max(tat or 0.0, blocked_until))
