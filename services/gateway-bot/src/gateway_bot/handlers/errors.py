"""Typed errors → Russian replies, in one place (``dp.errors`` with ExceptionTypeFilter).

An input problem keeps the user in their step: they send a better input. Any other failure (the
translation, the balance, a service, a bug) ends the flow: its buttons may be gone already, and a
step left waiting for them would answer the next message «choose with a button». Back at the menu,
the next prompt or menu button is understood; each reply says what to do next.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from medialab_contracts.errors import (
    BadAmount,
    BadRequest,
    InsufficientFunds,
    MediaLabError,
    NotAdmin,
    TooManyJobs,
    UnknownJob,
    UnknownUser,
)

from gateway_bot import keyboards, texts
from gateway_bot.failures import (
    AlbumNotAllowed,
    AlbumTooLarge,
    AnimatedImage,
    BadImage,
    DownloadFailed,
    EmptyPrompt,
    ExtendedFormError,
    FormProblem,
    ImageAspectUnsupported,
    ImageTooLarge,
    ImageTooSmall,
    InputRejected,
    NotAnImage,
    NotEnoughImages,
    PromoArgsError,
    PromoProblem,
    PromptTooLong,
    StatusArgsError,
    TooManyImages,
    TooManyPixels,
    TopupArgsError,
    TopupOutOfLimits,
    TopupProblem,
    TranslationFailed,
    UploadExpired,
    UploadQuotaReached,
)
from gateway_bot.metrics import JOBS_REFUSED
from gateway_bot.payments import topup_for
from gateway_bot.settings import GatewaySettings

log = logging.getLogger(__name__)
router = Router(name="errors")

_TOPUP_TEXTS = {
    TopupProblem.usage: texts.TOPUP_USAGE,
    TopupProblem.not_positive: texts.TOPUP_NOT_POSITIVE,
    TopupProblem.too_large: texts.TOPUP_TOO_LARGE,
    TopupProblem.bad_amount: texts.TOPUP_BAD_AMOUNT,
    TopupProblem.bad_user: texts.TOPUP_BAD_USER,
}
_PROMO_TEXTS = {
    PromoProblem.usage: texts.PROMO_NEW_USAGE,
    PromoProblem.bad_code: texts.PROMO_BAD_CODE,
    PromoProblem.bad_uses: texts.PROMO_BAD_USES,
    PromoProblem.bad_date: texts.PROMO_BAD_DATE,
    PromoProblem.past_date: texts.PROMO_PAST_DATE,
}


def _describe_form(error: ExtendedFormError) -> str:
    if error.problem is FormProblem.unknown_key:
        return texts.extended_unknown_key(error.value, error.accepted)
    if error.problem is FormProblem.unknown_model:
        return texts.extended_unknown_model(error.value, error.accepted)
    if error.problem is FormProblem.bad_size:
        return texts.extended_bad_size(error.value)
    if error.problem is FormProblem.bad_ratio:
        return texts.extended_bad_ratio(error.value)
    if error.problem is FormProblem.duplicate:
        return texts.extended_duplicate(error.value)
    if error.problem is FormProblem.no_negative:
        return texts.extended_no_negative(error.value)
    return texts.extended_bad_part(error.value)


def describe(error: InputRejected) -> str:
    """The user-facing text of an input problem."""
    match error:
        case NotAnImage():
            return texts.NOT_AN_IMAGE
        case BadImage():
            return texts.BAD_IMAGE
        case DownloadFailed():
            return texts.DOWNLOAD_FAILED
        case ImageTooLarge():
            return texts.image_too_large(error.limit_bytes)
        case TooManyPixels():
            return texts.IMAGE_TOO_MANY_PIXELS
        case AnimatedImage():
            return texts.ANIMATED_IMAGE
        case AlbumTooLarge():
            return texts.album_too_large(error.limit_pixels, error.limit_bytes)
        case UploadQuotaReached():
            return texts.upload_quota_reached(error.per_hour)
        case UploadExpired():
            return texts.UPLOAD_EXPIRED
        case ImageTooSmall():
            return texts.image_too_small(error.min_side)
        case ImageAspectUnsupported():
            return texts.image_aspect_unsupported(error.max_aspect)
        case TooManyImages():
            return texts.too_many_images(error.max_images)
        case NotEnoughImages() if error.have == 0:
            return texts.NEED_IMAGE_FIRST
        case NotEnoughImages():
            return texts.need_more_images(error.minimum, error.have)
        case AlbumNotAllowed():
            return texts.ONE_IMAGE_ONLY
        case EmptyPrompt():
            return texts.PROMPT_EMPTY
        case PromptTooLong():
            return texts.prompt_too_long(error.limit)
        case ExtendedFormError():
            return _describe_form(error)
        case TopupArgsError():
            return _TOPUP_TEXTS[error.problem]
        case TopupOutOfLimits():
            return texts.topup_out_of_limits(error.low_rub, error.high_rub)
        case PromoArgsError():
            return _PROMO_TEXTS[error.problem]
        case StatusArgsError():
            return texts.STATUS_USAGE if error.missing else texts.STATUS_BAD_ID
    return texts.INTERNAL_ERROR


_SERVICE_TEXTS: tuple[tuple[type[MediaLabError], str], ...] = (
    (NotAdmin, texts.NOT_ADMIN),
    (TooManyJobs, texts.TOO_MANY_JOBS),
    (UnknownJob, texts.JOB_NOT_FOUND),
    (UnknownUser, texts.UNKNOWN_USER),
    (BadAmount, texts.BAD_AMOUNT),
    (BadRequest, texts.REQUEST_REFUSED),
)


def describe_service_error(error: MediaLabError) -> str:
    for kind, text in _SERVICE_TEXTS:
        if isinstance(error, kind):
            return text
    return texts.SERVICE_UNAVAILABLE


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


@router.error(ExceptionTypeFilter(InputRejected))
async def input_rejected(event: ErrorEvent, bot: Bot) -> None:
    assert isinstance(event.exception, InputRejected)
    log.info("input rejected: %s", event.exception)
    await reply(event, bot, describe(event.exception))


async def end_flow(state: FSMContext | None) -> None:
    """Back to the menu; ``state`` is None only for an update with no chat and user to keep one for."""
    if state is not None:
        await state.clear()


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
    await reply(event, bot, describe_service_error(error))


@router.error()
async def unexpected(event: ErrorEvent, bot: Bot, state: FSMContext | None = None) -> None:
    log.error("unhandled error in update %s", event.update.update_id, exc_info=event.exception)
    await end_flow(state)
    await reply(event, bot, texts.INTERNAL_ERROR)
