"""Connecting to NATS with endless reconnects; the connection's state feeds /readyz."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

from medialab_runtime.metrics import NATS_CONNECTED

log = logging.getLogger(__name__)


async def connect(url: str, service: str) -> Client:
    gauge = NATS_CONNECTED.labels(service)

    async def on_disconnect() -> None:
        gauge.set(0)
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        gauge.set(1)
        log.info("nats reconnected")

    async def on_error(error: Exception) -> None:
        log.warning("nats error: %s", error)

    nc = await nats.connect(
        url,
        name=service,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
    gauge.set(1)
    return nc
