"""The delivery side: a durable pull consumer on EVENTS (``gateway-delivery``) shared by all replicas.

Progress events edit the status message (throttled); final events are delivered once: a claim in KV
(``delivered.<job_id>``) makes a redelivered or duplicate event a no-op, and a sender that died while
sending leaves a claim that goes stale, so the event is delivered again rather than lost. Events of
one chat are handled in order.

A charged result is delivered or refunded, never neither: when the chat refuses the bot, Telegram
refuses the message for good, or an error lasts through the consumer's last attempt, the job is
refunded through billing (once per job, however often asked) and the user told if the chat allows.
"""

from __future__ import annotations

import asyncio
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
from gateway_bot.delivery.fitting import Undeliverable
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.delivery.sender import ResultSender
from gateway_bot.locks import KeyedLocks
from gateway_bot.metrics import DELIVERIES, DELIVERY_LATENCY
from gateway_bot.storage.locales import UserLocales
from gateway_bot.storage.records import Claim, DeliveryMarks

log = logging.getLogger(__name__)

STALE_PROGRESS_S = 60.0
BUSY_RETRY_S = 3.0
RETRY_BASE_S = 1.0
RETRY_MAX_S = 30.0
# Tries at a refund on the last attempt: no redelivery will come to try again.
LAST_REFUND_TRIES = 3
# Telegram's words for a chat that is not there (the user deleted their account, a wrong id).
_CHAT_GONE = ("chat not found", "user not found", "user is deactivated", "peer_id_invalid")


def chat_refuses(error: TelegramForbiddenError | TelegramBadRequest | TelegramNotFound) -> bool:
    """The chat itself refuses the bot (blocked, gone): nobody there can be told anything."""
    if isinstance(error, TelegramForbiddenError | TelegramNotFound):
        return True
    return any(words in error.message.lower() for words in _CHAT_GONE)


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
        max_deliver: int,
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
        self._max_deliver: int | None = max_deliver
        self._consumer = DurableConsumer(
            js,
            subjects.EVENTS_STREAM,
            ConsumerConfig(
                durable_name=subjects.GATEWAY_DELIVERY_CONSUMER,
                filter_subject=subjects.ALL_JOB_EVENTS_FILTER,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ack_wait_s,
                max_deliver=max_deliver,
                max_ack_pending=max(1000, concurrency * 4),
            ),
        )

    async def run(self) -> None:
        await self._consumer.ensure()
        # A consumer created by an earlier version keeps its config: its own max_deliver says which
        # attempt is the last.
        try:
            info = await self._js.consumer_info(self._consumer.stream, self._consumer.durable)
        except Exception:
            log.warning(
                "delivery consumer's config unread; assuming its configured max_deliver", exc_info=True
            )
        else:
            allowed = info.config.max_deliver
            self._max_deliver = allowed if allowed is not None and allowed > 0 else None
            if allowed != self._consumer.config.max_deliver:
                log.warning("delivery consumer keeps max_deliver=%s, not the configured one", allowed)
        await self._consumer.run(self._concurrency, self.process)

    def _last_attempt(self, msg: Msg) -> bool:
        return self._max_deliver is not None and msg.metadata.num_delivered >= self._max_deliver

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
        lost: Undeliverable | None = None
        try:
            if isinstance(event, JobSucceeded):
                await self._sender.succeeded(self._bot, event)
            else:
                await self._sender.failed(self._bot, event)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as error:
            # Final: retrying cannot help.
            refused = chat_refuses(error)
            log.warning(
                "delivery to chat %s %s: %s",
                event.chat_id,
                "refused" if refused else "rejected",
                error.message,
            )
            outcome = "refused" if refused else "rejected"
            lost = Undeliverable.chat_refused if refused else Undeliverable.rejected
        except Exception:
            if not self._last_attempt(msg):
                log.exception("delivery failed (attempt %d); retrying", msg.metadata.num_delivered)
                await self._marks.release(event.job_id)
                await msg.nak(delay=retry_delay(msg.metadata.num_delivered, RETRY_BASE_S, RETRY_MAX_S))
                return
            log.exception("delivery failed on its last attempt (%d); giving up", msg.metadata.num_delivered)
            outcome = "exhausted"
            lost = Undeliverable.attempts_exhausted
        # A failed job was never charged (billing released its hold): only a result has money to return.
        if (
            lost is not None
            and isinstance(event, JobSucceeded)
            and not await self._give_back(msg, event, lost)
        ):
            return
        await self._marks.done(event.job_id)
        await msg.ack()
        DELIVERIES.labels(outcome).inc()
        DELIVERY_LATENCY.labels(outcome).observe((datetime.now(UTC) - event.at).total_seconds())

    async def _give_back(self, msg: Msg, event: JobSucceeded, cause: Undeliverable) -> bool:
        """Refund a result that will not be delivered; False when billing did not answer and the event
        is handed back to try again. On the last attempt nothing would come again: it tries a few times
        here, then logs the job for an operator."""
        last = self._last_attempt(msg)
        tries = LAST_REFUND_TRIES if last else 1
        for attempt in range(1, tries + 1):
            try:
                await self._sender.undelivered(self._bot, event, cause)
                return True
            except Exception:
                log.warning("refund of undelivered %s failed (try %d)", event.job_id, attempt, exc_info=True)
            if attempt < tries:
                await msg.in_progress()
                await asyncio.sleep(retry_delay(attempt, RETRY_BASE_S, RETRY_MAX_S))
        if last:
            log.error(
                "job %s: result undelivered (%s) and not refunded; refund it by hand", event.job_id, cause
            )
            return True
        await self._marks.release(event.job_id)
        await msg.nak(delay=retry_delay(msg.metadata.num_delivered, RETRY_BASE_S, RETRY_MAX_S))
        return False
