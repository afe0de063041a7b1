"""A durable pull consumer's whole life: ensure it exists, bind to it, pull, and leave it.

Used by the job consumers, the dead-letter watcher, the gateway's delivery and billing's saga, so
each of them creates its consumer the same way (an existing one with another config is kept) and
never leaves a pull subscription open, which would make the connection's drain wait forever.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from medialab_runtime.provisioning import ensure_durable_consumer
from medialab_runtime.puller import ConcurrentPuller


class DurableConsumer:
    def __init__(self, js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
        if config.durable_name is None:
            raise ValueError("a durable consumer needs a durable_name")
        self._js = js
        self.stream = stream
        self.config = config
        self.durable: str = config.durable_name
        self._puller: ConcurrentPuller | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def ensure(self) -> None:
        await ensure_durable_consumer(self._js, self.stream, self.config)

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[JetStreamContext.PullSubscription]:
        """Ensure the consumer and bind to it for the block; unsubscribed on the way out, so the
        unacked messages go back to the stream and the connection can drain."""
        await self.ensure()
        self._sub = sub = await self._js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        try:
            yield sub
        finally:
            await self._leave(sub)

    async def run(self, concurrency: int, handle: Callable[[Msg], Awaitable[None]]) -> None:
        """Pull and handle up to ``concurrency`` messages at once until ``stop``."""
        self._puller = ConcurrentPuller(concurrency, handle)
        async with self.subscription() as sub:
            await self._puller.run(sub)

    async def stop(self, grace_s: float) -> None:
        """Stop fetching; let messages in hand finish within ``grace_s``, hand the rest back."""
        if self._puller is not None:
            await self._puller.stop(grace_s)
        if self._sub is not None:
            # Now, not when the pulling task ends: the connection may be drained before that.
            await self._leave(self._sub)

    async def _leave(self, sub: JetStreamContext.PullSubscription) -> None:
        self._sub = None
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
