"""Keyboard builders: the main menu and every inline keyboard."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder, ReplyKeyboardBuilder
from medialab_contracts.catalog import ModelSpec

from gateway_bot import texts
from gateway_bot.callbacks import (
    CancelJobCb,
    DeleteMeAction,
    DeleteMeCb,
    FormatCb,
    HistoryCb,
    LanguageCb,
    ModelCb,
    NavAction,
    NavCb,
    PayMethod,
    RephraseCb,
    ResultAction,
    ResultCb,
    RetouchCb,
    RetouchKind,
    TopupCb,
    TopupOtherCb,
    VariantsCb,
    WorkAction,
    WorkCb,
    WorksPageCb,
)
from gateway_bot.i18n import LOCALES


def main_menu() -> ReplyKeyboardMarkup:
    builder = ReplyKeyboardBuilder()
    for row in texts.MENU_LAYOUT:
        for label in row:
            builder.button(text=label)
    builder.adjust(*(len(row) for row in texts.MENU_LAYOUT))
    return builder.as_markup(
        resize_keyboard=True, is_persistent=True, input_field_placeholder=texts.MENU_PLACEHOLDER
    )


def _cancel_row(builder: InlineKeyboardBuilder, flow: str) -> None:
    builder.button(text=texts.BTN_CANCEL, callback_data=NavCb(action=NavAction.cancel, flow=flow))


def models(choices: Iterable[ModelSpec], flow: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for model in choices:
        builder.button(text=texts.model_button(model), callback_data=ModelCb(flow=flow, model=model.key))
    _cancel_row(builder, flow)
    builder.adjust(1)
    return builder.as_markup()


def formats(model: ModelSpec, flow: str, images: int = 1) -> InlineKeyboardMarkup:
    """The model's formats, one a row; for a model with variants, a row of image counts under them."""
    builder = InlineKeyboardBuilder()
    for fmt in model.formats:
        builder.button(text=texts.format_button(model, fmt), callback_data=FormatCb(flow=flow, fmt=fmt.key))
    _variants_row(builder, model, flow, images)
    _cancel_row(builder, flow)
    builder.adjust(
        *[1] * len(model.formats), *([len(model.variant_choices)] if model.variant_choices else []), 1
    )
    return builder.as_markup()


def with_variants(model: ModelSpec, flow: str, images: int = 1) -> InlineKeyboardMarkup:
    """A step's «❌ Отмена», with the row of image counts above it for a model with variants."""
    builder = InlineKeyboardBuilder()
    _variants_row(builder, model, flow, images)
    _cancel_row(builder, flow)
    builder.adjust(*([len(model.variant_choices)] if model.variant_choices else []), 1)
    return builder.as_markup()


def _variants_row(builder: InlineKeyboardBuilder, model: ModelSpec, flow: str, images: int) -> None:
    for n in model.variant_choices:
        builder.button(
            text=texts.variants_button(model, n, chosen=n == images), callback_data=VariantsCb(flow=flow, n=n)
        )


def variant_results(job_id: str, indexes: Iterable[int]) -> InlineKeyboardMarkup:
    """Under an album of variants: a row per image, its number on each of the result buttons."""
    builder = InlineKeyboardBuilder()
    rows = 0
    for index in indexes:
        for action, label in (
            (ResultAction.edit, texts.BTN_VARIANT_EDIT),
            (ResultAction.upscale, texts.BTN_VARIANT_UPSCALE),
        ):
            builder.button(
                text=f"{label} {index + 1}", callback_data=ResultCb(action=action, job=job_id, n=index)
            )
        rows += 1
    builder.adjust(*[2] * rows)
    return builder.as_markup()


def retouch_kinds(flow: str, soft_price: int, enhance_price: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.retouch_button(texts.BTN_RETOUCH_SOFT, soft_price),
        callback_data=RetouchCb(flow=flow, kind=RetouchKind.soft),
    )
    builder.button(
        text=texts.retouch_button(texts.BTN_RETOUCH_ENHANCE, enhance_price),
        callback_data=RetouchCb(flow=flow, kind=RetouchKind.enhance),
    )
    _cancel_row(builder, flow)
    builder.adjust(1)
    return builder.as_markup()


def _step_or_cancel(flow: str, action: NavAction, label: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=label, callback_data=NavCb(action=action, flow=flow))
    _cancel_row(builder, flow)
    builder.adjust(2)
    return builder.as_markup()


def skip(flow: str) -> InlineKeyboardMarkup:
    return _step_or_cancel(flow, NavAction.skip, texts.BTN_SKIP)


def confirm(flow: str) -> InlineKeyboardMarkup:
    return _step_or_cancel(flow, NavAction.launch, texts.BTN_LAUNCH)


def cancel(flow: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    _cancel_row(builder, flow)
    return builder.as_markup()


def image_result(job_id: str, index: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_RESULT_EDIT, callback_data=ResultCb(action=ResultAction.edit, job=job_id, n=index)
    )
    builder.button(
        text=texts.BTN_RESULT_UPSCALE,
        callback_data=ResultCb(action=ResultAction.upscale, job=job_id, n=index),
    )
    builder.adjust(2)
    return builder.as_markup()


def job_status(job_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_CANCEL_JOB, callback_data=CancelJobCb(job=job_id))
    return builder.as_markup()


def prompt_result(job_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BTN_CREATE_FROM_PROMPT, callback_data=ResultCb(action=ResultAction.create, job=job_id)
    )
    return builder.as_markup()


def rephrase(job_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_REPHRASE, callback_data=RephraseCb(job=job_id))
    return builder.as_markup()


def balance() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_HISTORY, callback_data=HistoryCb(page=1))
    return builder.as_markup()


def history(page: int, pages: int) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    if page > 1:
        builder.button(text=texts.BTN_PREV, callback_data=HistoryCb(page=page - 1))
    if page < pages:
        builder.button(text=texts.BTN_NEXT, callback_data=HistoryCb(page=page + 1))
    if not list(builder.buttons):
        return None
    builder.adjust(2)
    return builder.as_markup()


def topup_packs(packs: Iterable[int]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for rub in packs:
        builder.button(text=texts.topup_button(rub), callback_data=TopupCb(rub=rub))
    builder.button(text=texts.BTN_TOPUP_OTHER, callback_data=TopupOtherCb())
    builder.adjust(3)
    return builder.as_markup()


def topup_methods(rub: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_PAY_STARS, callback_data=TopupCb(rub=rub, method=PayMethod.stars))
    builder.button(text=texts.BTN_PAY_YOOKASSA, callback_data=TopupCb(rub=rub, method=PayMethod.yookassa))
    builder.adjust(1)
    return builder.as_markup()


def payment_link(url: str, amount: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.pay_link_button(amount), url=url)
    return builder.as_markup()


def topup_missing(rub: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.topup_missing_button(rub), callback_data=TopupCb(rub=rub))
    return builder.as_markup()


def delete_me() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BTN_DELETE_ME, callback_data=DeleteMeCb(action=DeleteMeAction.confirm))
    builder.button(text=texts.BTN_CANCEL, callback_data=DeleteMeCb(action=DeleteMeAction.cancel))
    builder.adjust(2)
    return builder.as_markup()


_WORK_BUTTONS = (
    (WorkAction.original, texts.BTN_WORK_ORIGINAL),
    (WorkAction.repeat, texts.BTN_WORK_REPEAT),
    (WorkAction.edit, texts.BTN_WORK_EDIT),
    (WorkAction.upscale, texts.BTN_WORK_UPSCALE),
)


def works_page(entries: Iterable[tuple[int, str, int]], page: int, pages: int) -> InlineKeyboardMarkup | None:
    """Two rows of two per live entry (``number, job_id, output index``), then ◀ ▶ between pages."""
    builder = InlineKeyboardBuilder()
    sizes: list[int] = []
    for number, job_id, index in entries:
        for action, label in _WORK_BUTTONS:
            builder.button(
                text=texts.work_button(number, label),
                callback_data=WorkCb(action=action, job=job_id, n=index),
            )
        sizes += [2, 2]
    nav = 0
    if page > 1:
        builder.button(text=texts.BTN_PREV, callback_data=WorksPageCb(page=page - 1))
        nav += 1
    if page < pages:
        builder.button(text=texts.BTN_NEXT, callback_data=WorksPageCb(page=page + 1))
        nav += 1
    if not sizes and not nav:
        return None
    builder.adjust(*sizes, *([nav] if nav else []))
    return builder.as_markup()


def languages() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for locale in LOCALES:
        builder.button(text=texts.LANGUAGE_NAMES[locale], callback_data=LanguageCb(locale=locale))
    builder.adjust(len(LOCALES))
    return builder.as_markup()
