"""💳 Пополнить, /topup [amount], «✏️ Другая сумма», paying with Telegram Stars or through YooKassa
(card, SBP), /paysupport and the admins' /refund_stars and /refund_yookassa."""

import logging
import re

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery, User
from medialab_contracts.errors import (
    BadAmount,
    EmailRequired,
    InsufficientFunds,
    MediaLabError,
    NotAdmin,
    ProviderRejected,
    UnknownOrder,
)
from medialab_contracts.money import rubles
from medialab_contracts.payments import EMAIL_PATTERN, MAX_EMAIL_LENGTH, YOOKASSA_PAYMENT_ID_PATTERN

from gateway_bot import keyboards, payments, texts
from gateway_bot.callbacks import PayMethod, TopupCb, TopupOtherCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.payments import PaymentsClient
from gateway_bot.filters import IsAdmin, PlainText
from gateway_bot.flows.drafts import PendingTopup, StaleDraft, read
from gateway_bot.flows.steps import query_chat
from gateway_bot.parsing import parse_topup_amount
from gateway_bot.settings import GatewaySettings
from gateway_bot.states import TopupFlow

log = logging.getLogger(__name__)
router = Router(name="topup")


@router.message(Command("topup"))
async def topup_command(
    message: Message,
    command: CommandObject,
    event_from_user: User,
    billing: BillingClient,
    settings: GatewaySettings,
    state: FSMContext,
    bot: Bot,
) -> None:
    if not command.args:
        await show_packs(message, settings, state)
        return
    amount = parse_topup_amount(command.args, settings.topup_min_rub, settings.topup_max_rub)
    await pay_amount(bot, billing, settings, message.chat.id, event_from_user.id, amount)


@router.message(F.text.in_(texts.labels("BTN_TOPUP")))
async def show_packs(message: Message, settings: GatewaySettings, state: FSMContext) -> None:
    await state.clear()
    intro = texts.TOPUP_CHOOSE_ANY if settings.yookassa_enabled else texts.TOPUP_CHOOSE
    await message.answer(intro, reply_markup=keyboards.topup_packs(settings.topup_packs_rub))


@router.callback_query(TopupCb.filter())
async def choose_pack(
    query: CallbackQuery,
    callback_data: TopupCb,
    billing: BillingClient,
    payments_client: PaymentsClient,
    settings: GatewaySettings,
    state: FSMContext,
    bot: Bot,
) -> None:
    rub = callback_data.rub
    low, high = settings.topup_min_rub, settings.topup_max_rub
    if not low <= rub <= high:
        await query.answer(texts.topup_out_of_limits(low, high), show_alert=True)
        return
    await query.answer()
    chat_id = query_chat(query)
    method = callback_data.method if settings.yookassa_enabled else PayMethod.stars
    if method is None:
        await bot.send_message(chat_id, texts.topup_method(rub), reply_markup=keyboards.topup_methods(rub))
    elif method is PayMethod.yookassa:
        await send_payment_link(bot, payments_client, state, chat_id, query.from_user.id, rub, None)
    else:
        await payments.send_invoice(bot, billing, chat_id, query.from_user.id, rubles(rub))


async def pay_amount(
    bot: Bot, billing: BillingClient, settings: GatewaySettings, chat_id: int, user_id: int, amount: int
) -> None:
    """A typed amount (kopecks of whole rubles): the payment method choice when YooKassa is on, else
    the Stars invoice at once."""
    if settings.yookassa_enabled:
        rub = amount // 100
        await bot.send_message(chat_id, texts.topup_method(rub), reply_markup=keyboards.topup_methods(rub))
    else:
        await payments.send_invoice(bot, billing, chat_id, user_id, amount)


@router.callback_query(TopupOtherCb.filter())
async def ask_amount(query: CallbackQuery, settings: GatewaySettings, state: FSMContext, bot: Bot) -> None:
    await state.set_state(TopupFlow.amount)
    await query.answer()
    await bot.send_message(
        query_chat(query), texts.topup_ask_amount(settings.topup_min_rub, settings.topup_max_rub)
    )


@router.message(TopupFlow.amount, PlainText())
async def typed_amount(
    message: Message,
    event_from_user: User,
    billing: BillingClient,
    settings: GatewaySettings,
    state: FSMContext,
    bot: Bot,
) -> None:
    # A bad amount raises an input error: the user stays in this step and types another one.
    amount = parse_topup_amount(message.text, settings.topup_min_rub, settings.topup_max_rub)
    await state.clear()
    await pay_amount(bot, billing, settings, message.chat.id, event_from_user.id, amount)


async def send_payment_link(
    bot: Bot,
    payments_client: PaymentsClient,
    state: FSMContext,
    chat_id: int,
    user_id: int,
    rub: int,
    email: str | None,
) -> None:
    """The YooKassa link for a pack; without a stored e-mail, ask for it first (once)."""
    try:
        made = await payments_client.yookassa_link(user_id, rubles(rub), email)
    except EmailRequired:
        await state.set_state(TopupFlow.email)
        await state.update_data(PendingTopup(topup_rub=rub).model_dump())
        await bot.send_message(chat_id, texts.EMAIL_ASK)
        return
    except BadAmount:
        await bot.send_message(chat_id, texts.TOPUP_UNKNOWN_PACK)
        return
    except ProviderRejected as error:
        log.warning("YooKassa refused a payment of user %d: %s", user_id, error.message)
        await bot.send_message(chat_id, texts.PAYMENT_LINK_REFUSED)
        return
    except MediaLabError as error:
        log.warning("no YooKassa link for user %d: %s", user_id, error.code)
        await bot.send_message(chat_id, texts.PAYMENT_LINK_UNAVAILABLE)
        return
    await bot.send_message(
        chat_id,
        texts.payment_link(made.amount),
        reply_markup=keyboards.payment_link(made.confirmation_url, made.amount),
    )


@router.message(TopupFlow.email, F.text)
async def receipt_email(
    message: Message, event_from_user: User, state: FSMContext, payments_client: PaymentsClient, bot: Bot
) -> None:
    email = (message.text or "").strip()
    if len(email) > MAX_EMAIL_LENGTH or re.fullmatch(EMAIL_PATTERN, email) is None:
        await message.answer(texts.EMAIL_INVALID)
        return
    try:
        pending: PendingTopup | None = await read(state, PendingTopup)
    except StaleDraft:
        pending = None
    await state.clear()
    if pending is None:
        await message.answer(texts.TOPUP_UNKNOWN_PACK)
        return
    rub = pending.topup_rub
    await send_payment_link(bot, payments_client, state, message.chat.id, event_from_user.id, rub, email)


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery, billing: BillingClient) -> None:
    # Telegram cancels the payment unless this is answered within 10 s: billing's timeout is below it.
    refusal = await payments.checkout_refusal(billing, query)
    if refusal is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=refusal)


@router.message(F.successful_payment)
async def paid(message: Message, event_from_user: User, billing: BillingClient) -> None:
    payment = message.successful_payment
    assert payment is not None
    try:
        reply = await payments.credit(billing, event_from_user.id, payment)
    except MediaLabError as error:
        # The Stars are paid: never tell the user "nothing was charged". An admin finds the payment
        # by its charge id in this log line and in the user's message.
        log.error(
            "payment %s of user %d not credited: %s",
            payment.telegram_payment_charge_id,
            event_from_user.id,
            error.code,
        )
        await message.answer(texts.payment_not_credited(payment.telegram_payment_charge_id))
        return
    if reply.credited:  # a duplicate of a credited payment was answered the first time
        await message.answer(texts.payment_credited(reply.order.amount, reply.balance.available))


@router.message(F.refunded_payment)
async def refunded(message: Message) -> None:
    await message.answer(texts.PAYMENT_REFUNDED)


@router.message(Command("paysupport"))
async def pay_support(message: Message) -> None:
    await message.answer(texts.PAYSUPPORT)


@router.message(Command("refund_stars"), IsAdmin())
async def refund_stars(
    message: Message, command: CommandObject, event_from_user: User, billing: BillingClient, bot: Bot
) -> None:
    charge_id = payments.parse_charge_id(command.args)
    if charge_id is None:
        await message.answer(texts.REFUND_USAGE)
        return
    outcome = await payments.refund(bot, billing, event_from_user.id, charge_id)
    await message.answer(outcome.text)


@router.message(Command("refund_stars"))
async def refund_stars_refused(message: Message) -> None:
    await message.answer(texts.NOT_ADMIN)


@router.message(Command("refund_yookassa"), IsAdmin())
async def refund_yookassa(
    message: Message, command: CommandObject, event_from_user: User, payments_client: PaymentsClient
) -> None:
    payment_id = (command.args or "").strip()
    if re.fullmatch(YOOKASSA_PAYMENT_ID_PATTERN, payment_id) is None:
        await message.answer(texts.REFUND_YOOKASSA_USAGE)
        return
    try:
        reply = await payments_client.yookassa_refund(event_from_user.id, payment_id)
    except NotAdmin:
        await message.answer(texts.NOT_ADMIN)
        return
    except UnknownOrder:
        await message.answer(texts.REFUND_UNKNOWN)
        return
    except InsufficientFunds as spent:
        await message.answer(texts.refund_yookassa_spent(spent.available, spent.price))
        return
    except MediaLabError as error:
        log.warning("YooKassa refund of %s not finished: %s", payment_id, error.code)
        await message.answer(texts.REFUND_YOOKASSA_UNFINISHED)
        return
    await message.answer(texts.refund_yookassa_done(reply.order.user_id, reply.order.amount, reply.debited))


@router.message(Command("refund_yookassa"))
async def refund_yookassa_refused(message: Message) -> None:
    await message.answer(texts.NOT_ADMIN)
