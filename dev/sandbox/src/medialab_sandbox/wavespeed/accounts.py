"""Accounts: API keys sharing one set of limits, a FIFO run queue and a start-rate window."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from medialab_sandbox.wavespeed.codes import AccountLimits


class SlotPool:
    """A FIFO semaphore whose size a knob may change while tasks wait in line."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._active = 0
        self._line: deque[asyncio.Future[None]] = deque()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._line)

    def resize(self, limit: int) -> None:
        self._limit = limit
        self._hand_over()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if not self._line and self._active < self._limit:
            self._active += 1
        else:
            turn = asyncio.get_running_loop().create_future()
            self._line.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # the slot was handed over just as we were cancelled
                elif turn in self._line:
                    self._line.remove(turn)
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self._active -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._line and self._active < self._limit:
            turn = self._line.popleft()
            if not turn.done():
                self._active += 1
                turn.set_result(None)


class Account:
    def __init__(self, name: str, limits: AccountLimits) -> None:
        self.name = name
        self.limits = limits
        self.slots = SlotPool(limits.max_concurrency)
        self._starts: deque[float] = deque()

    def set_limits(self, limits: AccountLimits) -> None:
        self.limits = limits
        self.slots.resize(limits.max_concurrency)

    def try_start(self, now: float, window: float) -> float | None:
        """Count a task start; when over the limit, return seconds until one is allowed."""
        while self._starts and self._starts[0] <= now - window:
            self._starts.popleft()
        if len(self._starts) >= self.limits.starts_per_minute:
            return max(0.0, self._starts[0] + window - now)
        self._starts.append(now)
        return None

    def clear_starts(self) -> None:
        self._starts.clear()


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
