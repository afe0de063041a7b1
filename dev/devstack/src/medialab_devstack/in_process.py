"""Services' real composition roots (``run_service``) started in the test's own event loop.

Cheaper than a subprocess and still the code production runs: settings, layout, consumers, shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from medialab_contracts import subjects
from medialab_runtime.service import ServiceContext, run_service
from medialab_runtime.settings import ServiceSettings
from medialab_runtime.tasks import cancel_and_wait
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

S = TypeVar("S", bound=ServiceSettings)


class InProcessServices:
    """``async with`` it; every service started is cancelled on the way out."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> InProcessServices:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await cancel_and_wait(self._tasks)

    async def start_consumer(
        self,
        name: str,
        settings: S,
        setup: Callable[[ServiceContext[S]], Awaitable[None]],
        durable: str,
        timeout: float = 10.0,
    ) -> None:
        """Start a service and return once its durable ``jobs`` consumer exists, i.e. it takes jobs.

        A service that dies while starting raises its error here instead of timing out.
        """
        task = asyncio.create_task(run_service(name, settings, setup))
        self._tasks.append(task)
        async with asyncio.timeout(timeout):
            while True:
                if task.done():
                    task.result()
                with contextlib.suppress(NotFoundError):
                    await self._js.consumer_info(subjects.JOBS_STREAM, durable)
                    return
                await asyncio.sleep(0.02)
