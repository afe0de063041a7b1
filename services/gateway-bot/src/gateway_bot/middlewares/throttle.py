"""Incoming flood control: a user who sends updates faster than any person would is paused.

A GCRA bucket per user in the ``tglimits`` KV bucket, shared by every replica: ``INBOUND_BURST``
updates at once (an album of ten photos is ten updates), then ``INBOUND_PER_S`` on average. An update
over the limit is dropped before any handler runs (nothing is reserved, nothing stored); the user is
told once per ``TOLD_EVERY_S``, and a pressed button gets its answer as a popup. Without it, a flood
of messages would queue one answer per message behind Telegram's 1 message/s per chat, for minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, Update, User
from nats.js.kv import KeyValue

from gateway_bot import texts
from gateway_bot.metrics import THROTTLED_UPDATES
from gateway_bot.storage.kv import RememberingCas
from gateway_bot.telegram.limiter import Rate

log = logging.getLogger(__name__)

TOLD_EVERY_S = 30.0


class Admission(StrEnum):
    admitted = "admitted"
    refused = "refused"  # and the user was told recently
    refused_tell = "refused_tell"  # the user should hear why


class InboundThrottle:
    def __init__(self, kv: KeyValue, bot_id: int, rate: Rate, clock: Callable[[], float] = time.time) -> None:
        self._buckets = RememberingCas(kv)  # a user's next update: one KV write, not a read and a write
        self._bot_id = bot_id
        self._rate = rate
        self._clock = clock

    async def admit(self, user_id: int) -> Admission:
        now = self._clock()
        rate = self._rate
        outcome = Admission.admitted

        def take(current: dict[str, float] | None) -> dict[str, float]:
            nonlocal outcome
            state = current or {}
            tat = float(state.get("tat", 0.0))
            told = float(state.get("told", 0.0))
            wait, taken = rate.take(tat, now)
            if wait == 0:
                outcome = Admission.admitted
                return {"tat": taken, "told": told}
            if now - told >= TOLD_EVERY_S:
                outcome = Admission.refused_tell
                return {"tat": tat, "told": now}
            outcome = Admission.refused
            return {"tat": tat, "told": told}

        await self._buckets.update(f"in.{self._bot_id}.{user_id}", take)
        return outcome


class ThrottleMiddleware(BaseMiddleware):
    def __init__(self, throttle: InboundThrottle) -> None:
        self._throttle = throttle

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot or _is_payment(event):
            return await handler(event, data)
        admission = await self._throttle.admit(user.id)
        if admission is Admission.admitted:
            return await handler(event, data)
        THROTTLED_UPDATES.inc()
        if admission is Admission.refused_tell:
            log.info("user %d is flooding; updates dropped for a while", user.id)
            assert isinstance(event, Update)
            await _tell(data["bot"], event)
        return None


def _is_payment(event: TelegramObject) -> bool:
    """Payment updates are never dropped: a lost pre-checkout cancels a payment, a lost
    successful_payment is money paid and not credited."""
    assert isinstance(event, Update)
    message = event.message
    return event.pre_checkout_query is not None or (
        message is not None and (message.successful_payment or message.refunded_payment) is not None
    )


async def _tell(bot: Bot, update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(texts.TOO_FAST, show_alert=True)
    elif update.message is not None:
        await bot.send_message(update.message.chat.id, texts.TOO_FAST)
