"""/start, /menu, ℹ️ Info, /ping and cancel: they work from any state."""

import logging
from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from medialab_contracts.errors import MediaLabError

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import NavAction, NavCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.filters import SameFlow
from gateway_bot.flows.steps import query_chat
from gateway_bot.parsing import parse_referral

log = logging.getLogger(__name__)
router = Router(name="common")


@router.message(CommandStart())
async def start(
    message: Message, command: CommandObject, event_from_user: User, state: FSMContext, billing: BillingClient
) -> None:
    await state.clear()
    referrer = parse_referral(command.args)
    if referrer is not None:
        # Billing decides whether it counts (bonuses on, a new user who has not paid): never the
        # user's concern, so a failure here only logs.
        try:
            await billing.referral(event_from_user.id, referrer)
        except MediaLabError as error:
            log.warning("referral of %d by %d not recorded: %s", event_from_user.id, referrer, error.code)
    await message.answer(texts.START, reply_markup=keyboards.main_menu())


@router.message(Command("menu"))
async def menu(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.MENU, reply_markup=keyboards.main_menu())


@router.message(F.text.in_(texts.labels("BTN_INFO")))
async def info(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.INFO, reply_markup=keyboards.main_menu())


@router.message(Command("ping"))
async def ping(message: Message) -> None:
    await message.answer(texts.PONG)


@router.message(Command("cancel"))
async def cancel_command(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.CANCELLED, reply_markup=keyboards.main_menu())


@router.callback_query(NavCb.filter(F.action == NavAction.cancel), SameFlow())
async def cancel_button(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
    await state.clear()
    await query.answer()
    if query.message is not None:
        # The cancelled step's buttons go away; any left elsewhere answer that they are stale.
        with suppress(TelegramBadRequest):
            await bot.edit_message_reply_markup(
                chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=None
            )
    await bot.send_message(query_chat(query), texts.CANCELLED, reply_markup=keyboards.main_menu())
