"""Stopping background tasks so that shutdown always ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

# How long to wait before cancelling a task again that has not ended.
_RECANCEL_S = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and return once every one has ended, whatever it raised.

    A task is cancelled again while it runs on: on Python 3.11, ``asyncio.wait_for`` (which nats-py
    uses under fetches, watches and drains) drops a cancellation that arrives just as its inner
    future completes, and a loop around such a call would then go on forever and hang the shutdown.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_RECANCEL_S)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: asyncio would otherwise log it as never retrieved
