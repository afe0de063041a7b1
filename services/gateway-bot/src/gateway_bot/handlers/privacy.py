"""/delete_me: asks first, then erases the user's photos, results, drafts and prompts (privacy.py)."""

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from medialab_contracts.errors import Conflict, MediaLabError
from nats.errors import Error as NatsError

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import DeleteMeAction, DeleteMeCb
from gateway_bot.privacy import UserDataEraser

log = logging.getLogger(__name__)
router = Router(name="privacy")


@router.message(Command("delete_me"))
async def ask(message: Message) -> None:
    await message.answer(texts.DELETE_ME_ASK, reply_markup=keyboards.delete_me())


async def _reply(query: CallbackQuery, bot: Bot, text: str) -> None:
    """Replace the question (its buttons go with it), or write anew when it is gone."""
    if query.message is None:
        await bot.send_message(query.from_user.id, text)
        return
    await bot.edit_message_text(text=text, chat_id=query.message.chat.id, message_id=query.message.message_id)


@router.callback_query(DeleteMeCb.filter(F.action == DeleteMeAction.cancel))
async def cancel(query: CallbackQuery, bot: Bot) -> None:
    await query.answer()
    await _reply(query, bot, texts.DELETE_ME_CANCELLED)


@router.callback_query(DeleteMeCb.filter(F.action == DeleteMeAction.confirm))
async def confirm(query: CallbackQuery, bot: Bot, eraser: UserDataEraser) -> None:
    # Answered at once: a user with a long history takes a while to erase, and Telegram drops a
    # callback query left unanswered that long.
    await query.answer()
    # The presser's own data, whoever's message the button is under.
    try:
        await eraser.forget(query.from_user.id)
    except Conflict:
        await _reply(query, bot, texts.DELETE_ME_BUSY)
        return
    except (MediaLabError, NatsError) as error:
        # Billing or the bus failed part-way: every step is idempotent, so asking again finishes it.
        log.warning("/delete_me of user %d failed: %r", query.from_user.id, error)
        await _reply(query, bot, texts.DELETE_ME_FAILED)
        return
    await _reply(query, bot, texts.DELETE_ME_DONE)
