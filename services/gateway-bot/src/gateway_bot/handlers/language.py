"""/language: Русский or English, kept per user (``storage.locales``) and spoken from the next message on."""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, User

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import LanguageCb
from gateway_bot.flows.steps import query_chat
from gateway_bot.i18n import LOCALES
from gateway_bot.storage.locales import UserLocales

router = Router(name="language")


@router.message(Command("language"))
async def ask(message: Message) -> None:
    await message.answer(texts.LANGUAGE_ASK, reply_markup=keyboards.languages())


@router.callback_query(LanguageCb.filter(F.locale.in_(LOCALES)))
async def choose(
    query: CallbackQuery, callback_data: LanguageCb, event_from_user: User, locales: UserLocales, bot: Bot
) -> None:
    await locales.choose(event_from_user.id, callback_data.locale)
    await query.answer()
    # The main menu again: its reply keyboard is the one place the old language would stay.
    with texts.use_locale(callback_data.locale):
        await bot.send_message(query_chat(query), texts.LANGUAGE_SET, reply_markup=keyboards.main_menu())
