"""``async with`` for the emulators (start, then stop) and for their HTTP clients (close).

No heavy imports here: the terminal chat client uses ``Closable`` without the server side.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


class Closable(ABC):
    """``async with client:`` closes its connections on the way out."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connections this client holds."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
