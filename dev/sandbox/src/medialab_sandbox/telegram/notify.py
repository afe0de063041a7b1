"""A versioned change signal that long-polling waiters can block on."""

from __future__ import annotations

import asyncio


class Signal:
    """Counts changes; waiters block until the version moves past the one they saw."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        # A fresh event per version: waiters that already woke never see a stale "set".
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_past(self, version: int, timeout: float, abort: asyncio.Event | None = None) -> bool:
        """Wait until ``self.version > version``; False on timeout or abort."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.version <= version:
            remaining = deadline - loop.time()
            if remaining <= 0 or (abort is not None and abort.is_set()):
                return False
            waiters = [asyncio.ensure_future(self._event.wait())]
            if abort is not None:
                waiters.append(asyncio.ensure_future(abort.wait()))
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        return True
