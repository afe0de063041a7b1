"""Connecting to NATS with endless reconnects; the connection's state feeds /readyz."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import nats
from nats.aio.client import Client

from medialab_runtime.metrics import NATS_CONNECTED

log = logging.getLogger(__name__)


class ReconnectHooks:
    """Coroutines run after every reconnect, each in its own task: the client finishes reconnecting
    (and flushes what it buffered) before they start talking to the server."""

    def __init__(self) -> None:
        self._hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._running: set[asyncio.Task[None]] = set()

    def add(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._hooks.append(hook)

    def fire(self) -> None:
        for hook in self._hooks:
            task = asyncio.create_task(hook())
            self._running.add(task)
            task.add_done_callback(self._running.discard)


def inbox_prefix(user: str) -> str:
    """The user's own inbox subjects: the server lets only that user subscribe to them, so no other
    service can read its replies or JetStream deliveries."""
    return f"_INBOX_{user}"


def server_urls(url: str) -> list[str]:
    """``NATS_URL`` as a list: one URL, or a comma-separated list of a cluster's nodes (the client
    starts with any of them and moves to another when its node goes)."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError("NATS_URL is empty: give one nats:// URL or a comma-separated list of them")
    return urls


async def connect(
    url: str,
    service: str,
    hooks: ReconnectHooks | None = None,
    user: str | None = None,
    password: str | None = None,
) -> Client:
    gauge = NATS_CONNECTED.labels(service)

    async def on_disconnect() -> None:
        gauge.set(0)
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        gauge.set(1)
        log.info("nats reconnected")
        if hooks is not None:
            hooks.fire()

    async def on_error(error: Exception) -> None:
        log.warning("nats error: %s", error)

    # Explicit credentials win over any in the URL (nats-py sends these first).
    credentials: dict[str, Any] = {}
    if user is not None:
        credentials = {"user": user, "password": password or "", "inbox_prefix": inbox_prefix(user)}
    nc = await nats.connect(
        server_urls(url),
        name=service,
        **credentials,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
    gauge.set(1)
    return nc
