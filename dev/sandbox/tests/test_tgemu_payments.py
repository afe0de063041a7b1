"""Telegram Stars in the emulator: invoices, pre-checkout, successful payments, refunds."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Message, Update
from medialab_sandbox.telegram import (
    EmulatorConfig,
    EmulatorControl,
    RateLimitConfig,
    TelegramEmulator,
    TelegramUserClient,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
_user_ids = itertools.count(7001)
CHECKOUT_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def tgemu_unstarted() -> TelegramEmulator:
    # A short checkout window keeps the "bot never answers" test fast; Telegram's is 10 s.
    config = EmulatorConfig(
        rate_limits=RateLimitConfig(enabled=False), pre_checkout_timeout_s=CHECKOUT_TIMEOUT_S
    )
    return TelegramEmulator(config=config)


async def drain(bot: Bot) -> list[Update]:
    updates = await bot.get_updates()
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1)
    return updates


async def next_update(bot: Bot) -> Update:
    updates = await bot.get_updates(timeout=5)
    assert updates, "no update arrived"
    await bot.get_updates(offset=updates[0].update_id + 1)
    return updates[0]


@pytest_asyncio.fixture(loop_scope="module")
async def user(tgemu: TelegramEmulator, tgemu_bot: Bot) -> AsyncIterator[TelegramUserClient]:
    async with tgemu.user(user_id=next(_user_ids)) as client:
        await client.send_command("start")
        await drain(tgemu_bot)
        yield client


async def invoice(bot: Bot, user: TelegramUserClient, stars: int = 50, payload: str = "order-1") -> Message:
    return await bot.send_invoice(
        chat_id=user.chat_id,
        title="Пополнение",
        description="100 ₽ на баланс",
        payload=payload,
        currency="XTR",
        prices=[LabeledPrice(label="100 ₽", amount=stars)],
    )


async def test_an_answered_checkout_becomes_one_successful_payment(
    tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    sent = await invoice(tgemu_bot, user)
    assert sent.invoice is not None and sent.invoice.total_amount == 50 and sent.invoice.currency == "XTR"
    paying = asyncio.create_task(user.pay_invoice(sent.message_id))
    query = (await next_update(tgemu_bot)).pre_checkout_query
    assert query is not None
    assert (query.invoice_payload, query.total_amount, query.from_user.id) == ("order-1", 50, user.user_id)
    assert await tgemu_bot.answer_pre_checkout_query(query.id, ok=True)
    outcome = await paying
    assert outcome.status == "paid" and outcome.telegram_payment_charge_id
    message = (await next_update(tgemu_bot)).message
    assert message is not None and message.successful_payment is not None
    paid = message.successful_payment
    assert (paid.currency, paid.total_amount, paid.invoice_payload) == ("XTR", 50, "order-1")
    assert paid.telegram_payment_charge_id == outcome.telegram_payment_charge_id
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tgemu_bot.answer_pre_checkout_query(query.id, ok=True)


async def test_a_declined_or_unanswered_checkout_charges_nothing(
    tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    sent = await invoice(tgemu_bot, user)
    paying = asyncio.create_task(user.pay_invoice(sent.message_id))
    query = (await next_update(tgemu_bot)).pre_checkout_query
    assert query is not None
    with pytest.raises(TelegramBadRequest, match="ERROR_MESSAGE_EMPTY"):
        await tgemu_bot.answer_pre_checkout_query(query.id, ok=False)
    await tgemu_bot.answer_pre_checkout_query(query.id, ok=False, error_message="Заказ устарел")
    outcome = await paying
    assert (outcome.status, outcome.error_message) == ("declined", "Заказ устарел")

    paying = asyncio.create_task(user.pay_invoice(sent.message_id))
    query = (await next_update(tgemu_bot)).pre_checkout_query
    assert query is not None
    assert (await paying).status == "timeout"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tgemu_bot.answer_pre_checkout_query(query.id, ok=True)
    assert await drain(tgemu_bot) == []  # no successful_payment after either


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"currency": "RUB"}, "PAYMENT_PROVIDER_INVALID"),
        ({"provider_token": "284685063:TEST:abc"}, "PAYMENT_PROVIDER_INVALID"),
        ({"prices": [LabeledPrice(label="a", amount=1), LabeledPrice(label="b", amount=1)]}, "STARS_INVOICE"),
        ({"prices": [LabeledPrice(label="a", amount=0)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"max_tip_amount": 10}, "STARS_INVOICE_INVALID"),
        ({"payload": "x" * 129}, "INVOICE_PAYLOAD_INVALID"),
        ({"title": "x" * 33}, "INVOICE_TITLE_INVALID"),
        (
            {
                "reply_markup": InlineKeyboardMarkup(
                    inline_keyboard=[[InlineKeyboardButton(text="нет", callback_data="x")]]
                )
            },
            "REPLY_MARKUP_BUY_EMPTY",
        ),
    ],
)
async def test_invoices_are_validated_as_telegram_does(
    tgemu_bot: Bot, user: TelegramUserClient, changes: dict[str, object], error: str
) -> None:
    fields: dict[str, object] = {
        "chat_id": user.chat_id,
        "title": "Пополнение",
        "description": "100 ₽",
        "payload": "order",
        "currency": "XTR",
        "prices": [LabeledPrice(label="100 ₽", amount=50)],
    }
    with pytest.raises(TelegramBadRequest, match=error):
        await tgemu_bot.send_invoice(**{**fields, **changes})  # type: ignore[arg-type]


async def test_a_refund_is_told_to_the_bot_and_happens_once(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    sent = await invoice(tgemu_bot, user, stars=7, payload="order-r")
    paying = asyncio.create_task(user.pay_invoice(sent.message_id))
    query = (await next_update(tgemu_bot)).pre_checkout_query
    assert query is not None
    await tgemu_bot.answer_pre_checkout_query(query.id, ok=True)
    charge_id = (await paying).telegram_payment_charge_id
    assert charge_id is not None
    await drain(tgemu_bot)

    async with EmulatorControl(tgemu.base_url, tgemu.token) as control:
        await control.redeliver_payment(charge_id)
    duplicate = (await next_update(tgemu_bot)).message
    assert duplicate is not None and duplicate.successful_payment is not None
    assert duplicate.successful_payment.telegram_payment_charge_id == charge_id

    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await tgemu_bot.refund_star_payment(user_id=user.user_id + 1, telegram_payment_charge_id=charge_id)
    assert await tgemu_bot.refund_star_payment(user_id=user.user_id, telegram_payment_charge_id=charge_id)
    refunded = (await next_update(tgemu_bot)).message
    assert refunded is not None and refunded.refunded_payment is not None
    back = refunded.refunded_payment
    assert (back.total_amount, back.invoice_payload) == (7, "order-r")
    assert back.telegram_payment_charge_id == charge_id
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await tgemu_bot.refund_star_payment(user_id=user.user_id, telegram_payment_charge_id=charge_id)
    transcript = await user.transcript()
    assert [m.content for m in transcript.messages[-3:]] == [
        "🧾 Пополнение: 100 ₽ на баланс (⭐ 7)",
        "⭐ paid 7 Stars",
        "⭐ refunded 7 Stars",
    ]
