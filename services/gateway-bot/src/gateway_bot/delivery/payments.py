"""Credited YooKassa top-ups told to the user: a durable pull consumer on EVENTS (``gateway-payments``).

The payments service publishes one ``events.payment.<user>.credited`` per payment (deduplicated by
its id); the message goes to the user's private chat, whose id is the user's. Only a message is at
stake here (the money is booked): a chat that refuses the bot is skipped, other failures retried.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from medialab_contracts import subjects
from medialab_contracts.payments import PaymentCredited
from medialab_runtime.backoff import retry_delay
from medialab_runtime.durable import DurableConsumer
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from gateway_bot import texts
from gateway_bot.delivery.consumer import RETRY_BASE_S, RETRY_MAX_S
from gateway_bot.storage.locales import UserLocales

log = logging.getLogger(__name__)

MAX_DELIVER = 10
CONCURRENCY = 4


class PaymentNotices:
    def __init__(self, js: JetStreamContext, bot: Bot, locales: UserLocales, ack_wait_s: float) -> None:
        self._bot = bot
        self._locales = locales
        self._consumer = DurableConsumer(
            js,
            subjects.EVENTS_STREAM,
            ConsumerConfig(
                durable_name=subjects.GATEWAY_PAYMENTS_CONSUMER,
                filter_subject=subjects.PAYMENT_EVENTS_FILTER,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ack_wait_s,
                max_deliver=MAX_DELIVER,
            ),
        )

    async def run(self) -> None:
        await self._consumer.run(CONCURRENCY, self.process)

    async def stop(self, grace_s: float) -> None:
        await self._consumer.stop(grace_s)

    async def process(self, msg: Msg) -> None:
        try:
            notice = PaymentCredited.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable payment notice on %s", msg.subject)
            await msg.term()
            return
        try:
            with texts.use_locale(await self._locales.of(notice.user_id)):
                text = texts.payment_credited(notice.amount, notice.available)
            await self._bot.send_message(notice.user_id, text)
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound) as error:
            log.warning("payment notice to %d refused: %s", notice.user_id, error.message)
        except Exception:
            log.exception("payment notice to %d failed; retrying", notice.user_id)
            await msg.nak(delay=retry_delay(msg.metadata.num_delivered, RETRY_BASE_S, RETRY_MAX_S))
            return
        await msg.ack()
