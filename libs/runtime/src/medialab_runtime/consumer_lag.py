"""Exports JetStream consumer lag (pending and unacknowledged messages) as gauges."""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext

from medialab_runtime.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING, CONSUMER_REDELIVERED

log = logging.getLogger(__name__)


async def report_consumer_lag(
    js: JetStreamContext, stream: str, durable: str, service: str, every_s: float = 5.0
) -> None:
    """Poll ``consumer_info`` forever; a failed poll leaves the last values and tries again."""
    while True:
        try:
            info = await js.consumer_info(stream, durable)
        except Exception as error:  # lag is best effort: never take the consumer down for it
            log.debug("consumer_info(%s, %s) failed: %s", stream, durable, error)
        else:
            CONSUMER_PENDING.labels(service, durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(service, durable).set(info.num_ack_pending or 0)
            CONSUMER_REDELIVERED.labels(service, durable).set(info.num_redelivered or 0)
        await asyncio.sleep(every_s)
