"""Waiting for a condition held elsewhere (another process, a server, an emulator's records)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

Condition = Callable[[], bool | Awaitable[bool]]


async def eventually(
    condition: Condition, timeout: float = 10.0, what: str = "condition", interval: float = 0.05
) -> None:
    """Check ``condition`` (a plain or an async function) until it holds.

    Polling is for state that announces nothing (NATS, PostgreSQL, another process); where the test
    owns an event, it waits on the event instead. The failure names ``what`` never happened.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)
