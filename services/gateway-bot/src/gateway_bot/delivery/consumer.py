"""The delivery side: a durable pull consumer on EVENTS (``gateway-delivery``) shared by all replicas.

Progress events edit the status message (throttled); final events are delivered once: a claim in KV
(``delivered.<job_id>``) makes a redelivered or duplicate event a no-op, and a sender that died while
sending leaves a claim that goes stale, so the event is delivered again rather than lost. Events of
one chat are handled in order.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from medialab_contracts import subjects
from medialab_contracts.events import JobAccepted, JobFailed, JobProgress, JobSucceeded, parse_job_event
from medialab_runtime.backoff import retry_delay
from medialab_runtime.durable import DurableConsumer
from medialab_runtime.logs import job_context
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from gateway_bot import texts
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.delivery.sender import ResultSender
from gateway_bot.locks import KeyedLocks
from gateway_bot.metrics import DELIVERIES, DELIVERY_LATENCY
from gateway_bot.storage.locales import UserLocales
from gateway_bot.storage.records import Claim, DeliveryMarks

log = logging.getLogger(__name__)

STALE_PROGRESS_S = 60.0
MAX_DELIVER = 30
BUSY_RETRY_S = 3.0
RETRY_BASE_S = 1.0
RETRY_MAX_S = 30.0


class DeliveryConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        bot: Bot,
        sender: ResultSender,
        progress: ProgressBoard,
        marks: DeliveryMarks,
        locales: UserLocales,
        concurrency: int,
        ack_wait_s: float,
    ) -> None:
        self._js = js
        self._bot = bot
        self._sender = sender
        self._progress = progress
        self._marks = marks
        self._locales = locales
        self._concurrency = concurrency
        self._ack_wait_s = ack_wait_s
        self._chat_locks = KeyedLocks()
        self._consumer = DurableConsumer(
            js,
            subjects.EVENTS_STREAM,
            ConsumerConfig(
                durable_name=subjects.GATEWAY_DELIVERY_CONSUMER,
                filter_subject=subjects.ALL_JOB_EVENTS_FILTER,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ack_wait_s,
                max_deliver=MAX_DELIVER,
                max_ack_pending=max(1000, concurrency * 4),
            ),
        )

    async def run(self) -> None:
        await self._consumer.run(self._concurrency, self.process)

    async def stop(self, grace_s: float) -> None:
        """Stop fetching, let in-flight deliveries finish within ``grace_s``, then leave the consumer."""
        await self._consumer.stop(grace_s)

    async def process(self, msg: Msg) -> None:
        try:
            event = parse_job_event(msg.data)
        except ValidationError:
            log.error("unreadable event on %s", msg.subject)
            await msg.term()
            return
        with job_context(event.job_id, event.trace_id):
            async with self._chat_locks.hold(event.chat_id):
                # No update here to carry a language: the user's stored one (status, result, failure).
                with texts.use_locale(await self._locales.of(event.user_id)):
                    await self._handle(msg, event)

    async def _handle(self, msg: Msg, event: JobAccepted | JobProgress | JobSucceeded | JobFailed) -> None:
        if isinstance(event, JobAccepted):
            await msg.ack()
            return
        if isinstance(event, JobProgress):
            age = (datetime.now(UTC) - event.at).total_seconds()
            if age < STALE_PROGRESS_S:
                await self._progress.on_progress(self._bot, event)
            await msg.ack()
            return
        claim = await self._marks.claim(event.job_id)
        if claim is Claim.done:
            await msg.ack()
            return
        if claim is Claim.busy:
            await msg.nak(delay=BUSY_RETRY_S)
            return
        outcome = "succeeded" if isinstance(event, JobSucceeded) else "failed"
        try:
            if isinstance(event, JobSucceeded):
                await self._sender.succeeded(self._bot, event)
            else:
                await self._sender.failed(self._bot, event)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as error:
            # The chat is gone or refuses the bot: retrying cannot help.
            log.warning("delivery to chat %s refused: %s", event.chat_id, error.message)
            outcome = "refused"
        except Exception:
            log.exception("delivery failed (attempt %d); retrying", msg.metadata.num_delivered)
            await self._marks.release(event.job_id)
            await msg.nak(delay=retry_delay(msg.metadata.num_delivered, RETRY_BASE_S, RETRY_MAX_S))
            return
        await self._marks.done(event.job_id)
        await msg.ack()
        DELIVERIES.labels(outcome).inc()
        DELIVERY_LATENCY.labels(outcome).observe((datetime.now(UTC) - event.at).total_seconds())
