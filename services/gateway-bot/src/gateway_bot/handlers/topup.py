"""💳 Пополнить, /topup [amount], «✏️ Другая сумма», paying with Telegram Stars, /paysupport and the
admins' /refund_stars."""

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery, User
from medialab_contracts.errors import MediaLabError
from medialab_contracts.money import rubles

from gateway_bot import keyboards, payments, texts
from gateway_bot.callbacks import TopupCb, TopupOtherCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.filters import IsAdmin, PlainText
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
    await payments.send_invoice(bot, billing, message.chat.id, event_from_user.id, amount)


@router.message(F.text == texts.BTN_TOPUP)
async def show_packs(message: Message, settings: GatewaySettings, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.TOPUP_CHOOSE, reply_markup=keyboards.topup_packs(settings.topup_packs_rub))


@router.callback_query(TopupCb.filter())
async def choose_pack(
    query: CallbackQuery, callback_data: TopupCb, billing: BillingClient, settings: GatewaySettings, bot: Bot
) -> None:
    low, high = settings.topup_min_rub, settings.topup_max_rub
    if not low <= callback_data.rub <= high:
        await query.answer(texts.topup_out_of_limits(low, high), show_alert=True)
        return
    await query.answer()
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await payments.send_invoice(bot, billing, chat_id, query.from_user.id, rubles(callback_data.rub))


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
    await payments.send_invoice(bot, billing, message.chat.id, event_from_user.id, amount)


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
