"""Clients of tests/security: one NATS user each, recording the server's permission refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.nats_conn import inbox_prefix
from nats.aio.client import Client


class Refusals:
    """A client of one user that records the server's permission errors."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._new_error = asyncio.Event()

    async def on_error(self, error: Exception) -> None:
        self.errors.append(str(error))
        self._new_error.set()

    async def refused(self, what: str, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not any("permissions violation" in e and what.lower() in e.lower() for e in self.errors):
                await self._new_error.wait()
                self._new_error.clear()


async def _connect_as(server: NatsServer, user: str) -> tuple[Client, Refusals]:
    refusals = Refusals()
    nc = await nats.connect(
        server.plain_url,
        user=user,
        password=server.passwords[user],
        inbox_prefix=inbox_prefix(user),
        error_cb=refusals.on_error,
        max_reconnect_attempts=0,
    )
    return nc, refusals


ConnectAs = Callable[[str], Awaitable[tuple[Client, Refusals]]]


@pytest.fixture
async def connect_as(nats_server: NatsServer) -> AsyncIterator[ConnectAs]:
    """``await connect_as(user)``: a client of that user on the test's server, closed after the test."""
    clients: list[Client] = []

    async def connect(user: str) -> tuple[Client, Refusals]:
        nc, refusals = await _connect_as(nats_server, user)
        clients.append(nc)
        return nc, refusals

    yield connect
    for nc in clients:
        await nc.close()
