"""``async with`` for the emulators (start, then stop) and for their HTTP clients (close).

No heavy imports here: the terminal chat client uses ``Closable`` without the server side.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Self


class Lifecycle(ABC):
    """``async with emulator:`` starts it and stops it on the way out, even after an error."""

    @abstractmethod
    async def start(self) -> None:
        """Serve until ``stop``."""

    @abstractmethod
    async def stop(self) -> None:
        """Release everything ``start`` took."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _freeze_after_full_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def keep_survivors_of_full_collections() -> None:
    """For an emulator run as its own process: whatever survives a full collection is moved out of
    the collector's sight, so the next one walks only what came since.

    An emulator keeps everything it was told (users, chats, messages, every request) for as long as it
    runs, and a full collection walks all of it: 220 ms at a thousand users, a stall that no real
    provider has and that the bench would count as the pipeline's. Objects moved out are still freed
    when their last reference goes; only a cycle among them that later becomes garbage is never
    collected, which a test double that lives for one run can afford (a service could not).
    """
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)


async def serve_until_signalled(emulator: Lifecycle, announce: Callable[[], str]) -> None:
    """``python -m`` an emulator: serve until SIGINT or SIGTERM; ``announce()`` is printed once it
    serves (it names the address, which is only known then when the port was 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    keep_survivors_of_full_collections()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with emulator:
        print(announce(), flush=True)
        await stop.wait()


class Closable(ABC):
    """``async with client:`` closes its connections on the way out."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connections this client holds."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
