"""How many pixels a process decodes at once, bounded.

Each image passes its header check alone (at most ``MAX_IMAGE_PIXELS``), and an album as a whole, but
a process decodes many at once: the gateway every part of every album that arrives, a runner the inputs
of every job it holds. Without a bound, ten albums of 49 MP photos decode side by side (~2 GB). Here a
decode waits until the pixels already being decoded leave room for its own, so a process never holds
more than one limit's worth of decoded pixels, whatever arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class PixelBudget:
    def __init__(self, max_pixels: int) -> None:
        self._max = max_pixels
        self._in_use = 0
        self._changed = asyncio.Condition()

    @property
    def in_use(self) -> int:
        return self._in_use

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        # An image over the budget (a result, allowed more pixels than an input) waits for all of it.
        pixels = min(max(pixels, 0), self._max)
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_use + pixels <= self._max)
            self._in_use += pixels
        try:
            yield
        finally:
            async with self._changed:
                self._in_use -= pixels
                self._changed.notify_all()

    async def run(self, pixels: int, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work`` (a decode, CPU-bound) in a thread, once ``pixels`` fit the budget."""
        async with self.hold(pixels):
            return await asyncio.to_thread(work, *args, **kwargs)
