"""Typed errors answered in one place (``dp.errors`` with ExceptionTypeFilter); the texts come from
the catalog (``texts.describe_input``, ``texts.describe_service_error``).

An input problem keeps the user in their step: they send a better input. Any other failure (the
translation, the balance, a service, a bug) ends the flow: its buttons may be gone already, and a
step left waiting for them would answer the next message «choose with a button». An expired upload
ends it too: the step holds the upload, so every next message would hit the same expired one. Back
at the menu, the next prompt or menu button is understood; each reply says what to do next.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from medialab_contracts.errors import InsufficientFunds, MediaLabError

from gateway_bot import keyboards, texts
from gateway_bot.failures import InputRejected, TranslationFailed, UploadExpired
from gateway_bot.metrics import JOBS_REFUSED
from gateway_bot.payments import topup_for
from gateway_bot.settings import GatewaySettings

log = logging.getLogger(__name__)
router = Router(name="errors")


async def reply(event: ErrorEvent, bot: Bot, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer where the failed update came from: the message's chat, or the pressed button's."""
    update = event.update
    if update.message is not None:
        await bot.send_message(update.message.chat.id, text, reply_markup=markup)
        return
    if update.callback_query is not None:
        query = update.callback_query
        with suppress(TelegramBadRequest):  # the handler may have answered it before it failed
            await query.answer()
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        await bot.send_message(chat_id, text, reply_markup=markup)


async def end_flow(state: FSMContext | None) -> None:
    """Back to the menu; ``state`` is None only for an update with no chat and user to keep one for."""
    if state is not None:
        await state.clear()


# Registered before ``input_rejected``: the first error handler whose filter matches answers.
@router.error(ExceptionTypeFilter(UploadExpired))
async def upload_expired(event: ErrorEvent, bot: Bot, state: FSMContext | None = None) -> None:
    log.info("upload expired: %s", event.exception)
    await end_flow(state)
    await reply(event, bot, texts.describe_input(UploadExpired()))


@router.error(ExceptionTypeFilter(InputRejected))
async def input_rejected(event: ErrorEvent, bot: Bot) -> None:
    assert isinstance(event.exception, InputRejected)
    log.info("input rejected: %s", event.exception)
    await reply(event, bot, texts.describe_input(event.exception))


@router.error(ExceptionTypeFilter(TranslationFailed))
async def translation_failed(event: ErrorEvent, bot: Bot, state: FSMContext | None = None) -> None:
    log.info("job not started: translation failed (%s)", event.exception)
    await end_flow(state)
    await reply(event, bot, texts.TRANSLATE_FAILED)


@router.error(ExceptionTypeFilter(InsufficientFunds))
async def insufficient_funds(
    event: ErrorEvent, bot: Bot, settings: GatewaySettings, state: FSMContext | None = None
) -> None:
    error = event.exception
    assert isinstance(error, InsufficientFunds)
    JOBS_REFUSED.labels("funds").inc()
    await end_flow(state)
    missing = error.price - max(error.available, 0)
    pack = topup_for(missing, settings.topup_packs_rub, settings.topup_min_rub, settings.topup_max_rub)
    text = texts.insufficient_funds(error.price, error.available)
    await reply(event, bot, text, keyboards.topup_missing(pack))


@router.error(ExceptionTypeFilter(MediaLabError))
async def service_error(event: ErrorEvent, bot: Bot, state: FSMContext | None = None) -> None:
    error = event.exception
    assert isinstance(error, MediaLabError)
    log.warning("service error: %s %s", error.code, error.message)
    await end_flow(state)
    await reply(event, bot, texts.describe_service_error(error))


@router.error()
async def unexpected(event: ErrorEvent, bot: Bot, state: FSMContext | None = None) -> None:
    log.error("unhandled error in update %s", event.update.update_id, exc_info=event.exception)
    await end_flow(state)
    await reply(event, bot, texts.INTERNAL_ERROR)
