"""Settle or release from the final job events, so jobs complete even while the gateway is down.

A durable pull consumer on EVENTS (``succeeded`` and ``failed`` only) with explicit acks:
``ack`` once PostgreSQL has the outcome (or there is nothing to do), ``term`` for poison,
``nak(delay)`` while PostgreSQL is unavailable — and fetching pauses until it answers again, so an
outage does not burn through the bounded deliveries. An event that still exhausts them leaves its
reservation PENDING, and the sweeper releases it at the deadline: money is never stuck.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from medialab_contracts import subjects
from medialab_contracts.billing import ReleaseRequest, SettleRequest
from medialab_contracts.errors import Conflict, ServiceUnavailable, UnknownJob
from medialab_contracts.events import JobFailed, JobSucceeded, parse_job_event
from medialab_runtime.backoff import retry_delay
from medialab_runtime.durable import DurableConsumer
from medialab_runtime.logs import job_context
from medialab_runtime.puller import pull_batch
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from billing import metrics
from billing.api import Billing
from billing.settings import BillingSettings

log = logging.getLogger(__name__)


def consumer_config(settings: BillingSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=subjects.BILLING_SAGA_CONSUMER,
        filter_subjects=list(subjects.FINAL_EVENTS_FILTERS),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.saga_ack_wait_s,
        max_deliver=settings.saga_max_deliver,
        max_ack_pending=settings.saga_batch * 4,
    )


class Saga:
    def __init__(self, js: JetStreamContext, billing: Billing, settings: BillingSettings) -> None:
        self.js = js
        self.billing = billing
        self.settings = settings
        self._db_down = asyncio.Event()

    async def handle(self, msg: Msg) -> None:
        """Apply one event and answer JetStream; never raises."""
        try:
            await self._handle(msg)
        except nats.errors.Error as error:
            log.warning("could not answer JetStream (%s); the event comes back after ack_wait", error)

    async def _handle(self, msg: Msg) -> None:
        try:
            event = parse_job_event(msg.data)
        except ValidationError:
            log.warning("poison message on %s (%d bytes); terminated", msg.subject, len(msg.data))
            metrics.SAGA_EVENTS.labels("unknown", "poison").inc()
            await msg.term()
            return
        with job_context(event.job_id, event.trace_id):
            outcome = await self._apply(event)
            metrics.SAGA_EVENTS.labels(event.kind, outcome).inc()
            if outcome == "retry":
                attempt = msg.metadata.num_delivered or 1
                await msg.nak(delay=retry_delay(attempt, self.settings.saga_retry_delay_s, 60.0))
            else:
                await msg.ack()

    async def _apply(self, event: object) -> str:
        try:
            if isinstance(event, JobSucceeded):
                # A text result (M2) has no outputs: all it asked for was delivered.
                delivered = len(event.outputs) or None
                await self.billing.settle(
                    SettleRequest(job_id=event.job_id, delivered=delivered, trace_id=event.trace_id)
                )
            elif isinstance(event, JobFailed):
                await self.billing.release(
                    ReleaseRequest(job_id=event.job_id, reason=event.reason.value, trace_id=event.trace_id)
                )
            else:
                return "ignored"  # the filter admits only final events; anything else is not ours
        except UnknownJob:
            log.warning("event for a job billing never reserved; acked")
            return "unknown_job"
        except Conflict as error:
            log.warning("event conflicts with the job's recorded outcome (%s); acked", error.message)
            return "conflict"
        except ServiceUnavailable:
            self._db_down.set()
            return "retry"
        except Exception:
            log.exception("saga failed to apply an event; will retry")
            return "retry"
        return "applied"

    async def _wait_for_database(self, stopping: asyncio.Event) -> None:
        delay = 0.5
        while not stopping.is_set() and not await self.billing.db.ping():
            log.warning("saga paused: postgres unavailable; next check in %.1fs", delay)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 5.0)
        self._db_down.clear()

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = DurableConsumer(self.js, subjects.EVENTS_STREAM, consumer_config(self.settings))
        # Its own pull loop, not DurableConsumer.run: fetching pauses while PostgreSQL is away.
        async with consumer.subscription() as sub:
            log.info("saga consuming %s", ", ".join(subjects.FINAL_EVENTS_FILTERS))
            await self._consume(sub, stopping)

    async def _consume(self, sub: JetStreamContext.PullSubscription, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            if self._db_down.is_set():
                await self._wait_for_database(stopping)
                continue
            try:
                msgs = await pull_batch(sub, self.settings.saga_batch, self.settings.saga_fetch_timeout_s)
            except nats.errors.Error as error:  # disconnected, draining: the client reconnects by itself
                log.warning("saga fetch failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(0.5)
                continue
            await asyncio.gather(*(self.handle(msg) for msg in msgs))
