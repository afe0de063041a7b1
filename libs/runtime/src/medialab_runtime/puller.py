"""A bounded, concurrent fetch loop over a JetStream pull subscription.

Fetches only as many messages as there are free places, so a slow handler never holds messages it
cannot start (they stay with the stream for another replica). Shared by the job consumers of the
runners and by the gateway's delivery consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from medialab_runtime.tasks import cancel_and_wait

log = logging.getLogger(__name__)


# How long one pull waits for a message when there is none, and how long a pull for a backlog may wait
# to fill its batch. A pull for several messages that finds too few is held open until it is full or
# expires, keeping the ones it got; so the waiting pull is for one message only.
IDLE_WAIT_S = 1.0
BATCH_WAIT_S = 0.02


async def pull(sub: JetStreamContext.PullSubscription, batch: int, timeout: float) -> list[Msg]:
    """``sub.fetch``, with ``[]`` when nothing came within ``timeout``."""
    try:
        return await sub.fetch(batch=batch, timeout=timeout)
    except (NatsTimeoutError, TimeoutError):  # nats-py raises either
        return []


async def pull_batch(sub: JetStreamContext.PullSubscription, most: int, wait_s: float) -> list[Msg]:
    """Up to ``most`` messages: waits up to ``wait_s`` for one, then takes what else is ready."""
    first = await pull(sub, 1, wait_s)
    return first + await pull(sub, most - 1, BATCH_WAIT_S) if first and most > 1 else first


class ConcurrentPuller:
    def __init__(self, concurrency: int, handle: Callable[[Msg], Awaitable[None]]) -> None:
        self._concurrency = concurrency
        self._handle = handle
        self._capacity = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def run(self, sub: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            await self._capacity.acquire()
            free = 1
            while not self._capacity.locked() and free < self._concurrency:
                await self._capacity.acquire()
                free += 1
            first = await self._fetch(sub, 1, IDLE_WAIT_S)
            self._start(first)  # before the backlog's pull, which may take BATCH_WAIT_S
            rest = await self._fetch(sub, free - 1, BATCH_WAIT_S) if first and free > 1 else []
            self._start(rest)
            for _ in range(free - len(first) - len(rest)):
                self._capacity.release()

    @staticmethod
    async def _fetch(sub: JetStreamContext.PullSubscription, batch: int, timeout: float) -> list[Msg]:
        try:
            return await pull(sub, batch, timeout)
        except Exception as error:  # disconnected mid-fetch: the client reconnects by itself
            log.warning("fetch failed: %s", error)
            await asyncio.sleep(0.5)
            return []

    def _start(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            task = asyncio.create_task(self._handle_and_release(msg))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def stop(self, grace_s: float) -> None:
        """Stop fetching; let in-flight messages finish within ``grace_s``, hand the rest back."""
        self._stopping.set()
        if not self._in_flight:
            return
        _done, pending = await asyncio.wait(set(self._in_flight), timeout=grace_s)
        await cancel_and_wait(pending)

    async def _handle_and_release(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        finally:
            self._capacity.release()
