"""Incoming flood control over a real NATS KV, shared by replicas, and in front of every handler."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import (
    CallbackQuery,
    Chat,
    Message,
    PreCheckoutQuery,
    SuccessfulPayment,
    Update,
    User,
)
from gateway_bot import texts
from gateway_bot.middlewares.throttle import TOLD_EVERY_S, Admission, InboundThrottle, ThrottleMiddleware
from gateway_bot.telegram.limiter import Rate
from medialab_contracts import subjects
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.telegram import RecordingSession
from nats.js.kv import KeyValue

BURST = Rate(1.0, 3)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def kv(nats_url: str) -> AsyncIterator[KeyValue]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield await js.key_value(subjects.TELEGRAM_LIMITS_BUCKET)
    await nc.close()


def bot_id() -> int:
    return time.time_ns()  # the throttle's state starts fresh in each test


async def test_a_burst_is_admitted_then_the_rate_and_the_user_is_told_once(kv: KeyValue) -> None:
    clock = Clock()
    shared = bot_id()
    replicas = [InboundThrottle(kv, shared, BURST, clock), InboundThrottle(kv, shared, BURST, clock)]
    seen = [await replicas[n % 2].admit(5) for n in range(6)]
    assert seen == [Admission.admitted] * 3 + [Admission.refused_tell, Admission.refused, Admission.refused]
    assert await replicas[0].admit(6) is Admission.admitted  # another user is not slowed down
    clock.now += 1.0
    assert [await replicas[1].admit(5) for _ in range(2)] == [Admission.admitted, Admission.refused]
    clock.now += TOLD_EVERY_S
    after_a_pause = [await replicas[0].admit(5) for _ in range(4)]
    assert after_a_pause == [Admission.admitted] * 3 + [Admission.refused_tell]


def message_update(update_id: int, user_id: int) -> Update:
    user = User(id=user_id, is_bot=False, first_name="U")
    chat = Chat(id=user_id, type="private")
    message = Message(message_id=update_id, date=datetime.now(UTC), chat=chat, from_user=user, text="кот")
    return Update(update_id=update_id, message=message)


def press_update(update_id: int, user_id: int) -> Update:
    user = User(id=user_id, is_bot=False, first_name="U")
    query = CallbackQuery(id=str(update_id), from_user=user, chat_instance="c", data="nav:x")
    return Update(update_id=update_id, callback_query=query)


async def test_a_flood_reaches_no_handler_past_the_burst(kv: KeyValue) -> None:
    handled: list[int] = []
    router = Router()

    @router.message()
    async def on_message(message: Message) -> None:
        handled.append(message.message_id)

    @router.callback_query()
    async def on_press(query: CallbackQuery) -> None:
        handled.append(int(query.id))

    dp = Dispatcher()
    dp.update.outer_middleware(ThrottleMiddleware(InboundThrottle(kv, bot_id(), BURST)))
    dp.include_router(router)
    telegram = RecordingSession()
    bot = Bot("42:TEST", session=telegram)

    for n in range(1, 11):
        await dp.feed_update(bot, message_update(n, 5))
    for n in range(11, 21):
        await dp.feed_update(bot, press_update(n, 8))
    await dp.feed_update(bot, message_update(21, 9))

    assert handled == [1, 2, 3, 11, 12, 13, 21]
    (told,) = [m for m in telegram.requests if isinstance(m, SendMessage)]
    assert (told.chat_id, told.text) == (5, texts.TOO_FAST)
    (popup,) = [m for m in telegram.requests if isinstance(m, AnswerCallbackQuery)]
    assert (popup.callback_query_id, popup.text, popup.show_alert) == ("14", texts.TOO_FAST, True)


async def test_payment_updates_are_never_throttled(kv: KeyValue) -> None:
    """A dropped pre-checkout cancels a payment; a dropped successful_payment is money not credited."""
    handled: list[str] = []
    router = Router()

    @router.message()
    async def on_message(message: Message) -> None:
        handled.append("paid" if message.successful_payment else "text")

    @router.pre_checkout_query()
    async def on_checkout(query: PreCheckoutQuery) -> None:
        handled.append("checkout")

    dp = Dispatcher()
    dp.update.outer_middleware(ThrottleMiddleware(InboundThrottle(kv, bot_id(), BURST)))
    dp.include_router(router)
    bot = Bot("42:TEST", session=RecordingSession())
    user = User(id=5, is_bot=False, first_name="U")
    for n in range(1, 6):
        await dp.feed_update(bot, message_update(n, 5))  # the user is over the limit from now on
    checkout = PreCheckoutQuery(
        id="q", from_user=user, currency="XTR", total_amount=67, invoice_payload="order"
    )
    await dp.feed_update(bot, Update(update_id=6, pre_checkout_query=checkout))
    payment = SuccessfulPayment(
        currency="XTR",
        total_amount=67,
        invoice_payload="order",
        telegram_payment_charge_id="stxA",
        provider_payment_charge_id="",
    )
    paid = Message(
        message_id=7,
        date=datetime.now(UTC),
        chat=Chat(id=5, type="private"),
        from_user=user,
        successful_payment=payment,
    )
    await dp.feed_update(bot, Update(update_id=7, message=paid))
    assert handled == ["text"] * 3 + ["checkout", "paid"]
