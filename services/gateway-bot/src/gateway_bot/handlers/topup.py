"""💳 Пополнить, /topup, paying with Telegram Stars, /paysupport and the admins' /refund_stars."""

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery, User
from medialab_contracts.errors import MediaLabError

from gateway_bot import keyboards, payments, texts
from gateway_bot.callbacks import TopupCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.filters import IsAdmin
from gateway_bot.settings import GatewaySettings

log = logging.getLogger(__name__)
router = Router(name="topup")


@router.message(Command("topup"))
@router.message(F.text == texts.BTN_TOPUP)
async def show_packs(message: Message, settings: GatewaySettings) -> None:
    await message.answer(texts.TOPUP_CHOOSE, reply_markup=keyboards.topup_packs(settings.topup_packs_rub))


@router.callback_query(TopupCb.filter())
async def choose_pack(
    query: CallbackQuery, callback_data: TopupCb, billing: BillingClient, settings: GatewaySettings, bot: Bot
) -> None:
    if callback_data.rub not in settings.topup_packs_rub:
        await query.answer(texts.TOPUP_UNKNOWN_PACK, show_alert=True)
        return
    await query.answer()
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await payments.send_invoice(bot, billing, chat_id, query.from_user.id, callback_data.rub)


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
