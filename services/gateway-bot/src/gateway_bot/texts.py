"""Every string the bot shows, by name, and the small functions that fill them in.

Handlers never hold user-facing text: they look it up here. The words themselves live in the gettext
catalogs ``locales/<locale>/LC_MESSAGES/messages.po`` (Russian, the default, and English), whose
msgids are the names used here. A name that is only declared (``BTN_CREATE: str``) is read from the
catalog of the current locale each time it is used (the module's ``__getattr__``), so
``texts.BTN_CREATE`` is Russian or English by the user the update or delivery is for. Prices and
dates are formatted per locale. Messages use HTML parse mode, so every value that comes from a user
or a provider goes through ``quote``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from aiogram.utils.text_decorations import html_decoration
from babel.dates import format_datetime
from babel.numbers import format_decimal
from medialab_contracts.billing import (
    BalanceView,
    HistoryEntry,
    HistoryKind,
    HistoryPage,
    OperationStatus,
    OperationView,
    TopupReply,
)
from medialab_contracts.catalog import MARKETPLACE_FORMATS, ImageFormat, ModelSpec
from medialab_contracts.errors import ErrorCode, InsufficientFunds, MediaLabError
from medialab_contracts.events import FailureReason
from medialab_contracts.modes import Mode
from medialab_contracts.money import KOPECKS_PER_RUBLE, rubles
from medialab_contracts.promo import PromoView, StatsPeriod, StatsReply

from gateway_bot.delivery.fitting import Fit, FittedResult, Undeliverable
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
    UploadBytesQuotaReached,
    UploadExpired,
    UploadQuotaReached,
)
from gateway_bot.i18n import LOCALES, i18n

MOSCOW = ZoneInfo("Europe/Moscow")


def quote(value: str) -> str:
    return html_decoration.quote(value)


def text(key: str) -> str:
    """The catalog's text for ``key`` in the current locale."""
    return i18n.gettext(key)


_t = text


def current_locale() -> str:
    return i18n.current_locale


def use_locale(locale: str) -> AbstractContextManager[None]:
    """Speak ``locale`` within the block: for texts sent outside an update (deliveries, notices)."""
    return i18n.use_locale(locale)


def labels(key: str) -> frozenset[str]:
    """A button's label in every locale: a keyboard sent before a /language switch still works."""
    return frozenset(i18n.gettext(key, locale=locale) for locale in LOCALES)


def format_rub(kopecks: int) -> str:
    """``2400`` → «24 ₽», ``245050`` → «2 450,50 ₽» (ru) or «2,450.50 ₽» (en), ``-300`` → «−3 ₽»."""
    sign = "−" if kopecks < 0 else ""
    pattern = "#,##0.00" if kopecks % KOPECKS_PER_RUBLE else "#,##0"
    amount = Decimal(abs(kopecks)) / KOPECKS_PER_RUBLE
    number = format_decimal(amount, format=pattern, locale=current_locale())
    return f"{sign}{number} ₽"


def moscow_time(moment: datetime) -> str:
    stamp = format_datetime(moment, _t("DATETIME_PATTERN"), tzinfo=MOSCOW, locale=current_locale())
    return _t("moscow_time").format(time=stamp)


def _moscow_date(moment: datetime) -> str:
    return format_datetime(moment, _t("DATE_PATTERN"), tzinfo=MOSCOW, locale=current_locale())


K = TypeVar("K", bound=Hashable)


class _Named(Mapping[K, str]):
    """Titles of an enum's members (or of fixed values) in the current locale, read at each lookup:
    ``MODE_TITLES[Mode.edit]`` is the catalog's ``MODE_edit``. ``aliases`` reuse another key."""

    def __init__(self, prefix: str, members: Iterable[K], aliases: Mapping[K, str] | None = None) -> None:
        self._prefix = prefix
        self._members = tuple(members)
        self._aliases = dict(aliases or {})

    def key(self, member: K) -> str:
        return self._aliases.get(member) or f"{self._prefix}_{getattr(member, 'name', member)}"

    def __getitem__(self, member: K) -> str:
        if member not in self._members:
            raise KeyError(member)
        return _t(self.key(member))

    def __iter__(self) -> Iterator[K]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)


# ── main menu buttons ────────────────────────────────────────────────────────────────────────────
BTN_CREATE: str
BTN_WRITE: str
BTN_EDIT: str
BTN_MERGE: str
BTN_RETOUCH: str
BTN_TEXT: str
BTN_FACESWAP: str
BTN_UPSCALE: str
BTN_BALANCE: str
BTN_TOPUP: str
BTN_INFO: str
BTN_WORKS: str

_MENU_KEYS: tuple[tuple[str, ...], ...] = (
    ("BTN_CREATE", "BTN_WRITE"),
    ("BTN_EDIT", "BTN_MERGE"),
    ("BTN_RETOUCH", "BTN_TEXT"),
    ("BTN_FACESWAP", "BTN_UPSCALE"),
    ("BTN_BALANCE", "BTN_TOPUP"),
    ("BTN_WORKS", "BTN_INFO"),
)
MENU_LAYOUT: tuple[tuple[str, ...], ...]  # the rows' labels in the current locale
# Every language's labels: typed text that is a menu button in any of them is not a prompt.
MENU_BUTTONS: frozenset[str] = frozenset(label for row in _MENU_KEYS for key in row for label in labels(key))
MENU_PLACEHOLDER: str

# ── inline buttons ───────────────────────────────────────────────────────────────────────────────
BTN_CANCEL: str
BTN_SKIP: str
BTN_LAUNCH: str
BTN_RESULT_EDIT: str
BTN_RESULT_UPSCALE: str
BTN_CREATE_FROM_PROMPT: str
BTN_HISTORY: str
BTN_PREV: str
BTN_NEXT: str
BTN_REPHRASE: str
BTN_DELETE_ME: str
BTN_RETOUCH_SOFT: str
BTN_RETOUCH_ENHANCE: str


def _model_price(model: ModelSpec) -> str:
    """Its price, or «от …» for a model whose resolutions cost differently (the buttons say each)."""
    lowest = format_rub(model.lowest_price)
    return _t("price_from").format(price=lowest) if model.varies_in_price else lowest


def model_button(model: ModelSpec) -> str:
    return f"{model.title} · {_model_price(model)}"


def _variants_word(n: int) -> str:
    if n == 1:
        return _t("variants_one")
    return _t("variants_few") if n < 5 else _t("variants_many")


def variants_button(model: ModelSpec, n: int, *, chosen: bool) -> str:
    """An image count with what it costs in all (at the model's base price; the formats show each)."""
    mark = "✅ " if chosen else ""
    return f"{mark}{n} {_variants_word(n)} · {format_rub(model.price_for(None, n))}"


def priced_images(per_image: int, images: int) -> str:
    """A price for one or several images: «8 ₽», or «32 ₽ (4 × 8 ₽)»."""
    if images == 1:
        return format_rub(per_image)
    return f"{format_rub(per_image * images)} ({images} × {format_rub(per_image)})"


def variants_note(model: ModelSpec, images: int) -> str:
    """Under a step of a model with variants: how many images are asked for, and that each is paid."""
    if not model.variant_choices:
        return ""
    return "\n" + _t("variants_note").format(images=images, max=model.max_variants)


BTN_VARIANT_EDIT = "✏️"
BTN_VARIANT_UPSCALE = "🔍"


def variants_buttons(count: int) -> str:
    return _t("variants_buttons").format(count=count, word=_variants_word(count))


def _format_title(fmt: ImageFormat) -> str:
    """The catalog's format title in the current locale: its orientation's word, then the aspect
    ratio the catalog's (Russian) title carries («Квадрат 1:1» → «Square 1:1»); a marketplace card
    by its marketplace's name («Wildberries 3:4»)."""
    if fmt in MARKETPLACE_FORMATS:
        return _t(f"FORMAT_{fmt.key}")
    orientation = (
        "square" if fmt.width == fmt.height else "vertical" if fmt.width < fmt.height else "horizontal"
    )
    _word, _, ratio = fmt.title.partition(" ")
    return " ".join(part for part in (_t(f"FORMAT_{orientation}"), ratio) if part)


def format_button(model: ModelSpec, fmt: ImageFormat) -> str:
    """A model priced by resolution shows each button's price (a marketplace preset names no tier)."""
    if not model.resolutions:
        return f"{_format_title(fmt)} {fmt.size_label}"
    tier = f" · {fmt.resolution}" if fmt.resolution else ""
    return f"{_format_title(fmt)}{tier} {fmt.size_label} · {format_rub(model.format_price(fmt))}"


def retouch_button(title: str, price: int) -> str:
    return f"{title} · {format_rub(price)}"


# ── commands (setMyCommands) ─────────────────────────────────────────────────────────────────────
_COMMAND_NAMES = (
    "start",
    "menu",
    "balance",
    "history",
    "works",
    "topup",
    "promo",
    "paysupport",
    "status",
    "language",
    "ping",
    "delete_me",
)
COMMANDS: tuple[tuple[str, str], ...]  # (command, its description in the current locale)
INVITE_COMMAND: tuple[str, str]


def commands(referrals_on: bool) -> tuple[tuple[str, str], ...]:
    """The command menu; /invite only while referral bonuses are paid."""
    listed = tuple((name, _t(f"CMD_{name}")) for name in _COMMAND_NAMES)
    return (*listed, ("invite", _t("CMD_invite"))) if referrals_on else listed


# ── greeting, menu, info ─────────────────────────────────────────────────────────────────────────
GUIDE: str  # the modes by their menu buttons: filled in below
START: str
MENU: str
INFO: str
PONG: str
CANCELLED: str


def _guide() -> str:
    buttons = {key.removeprefix("BTN_").lower(): _t(key) for row in _MENU_KEYS for key in row}
    return _t("GUIDE").format(**buttons)


# ── /language ────────────────────────────────────────────────────────────────────────────────────
LANGUAGE_ASK: str
LANGUAGE_SET: str
LANGUAGE_NAMES: Mapping[str, str] = _Named("LANGUAGE", LOCALES)

# ── stale or foreign buttons ─────────────────────────────────────────────────────────────────────
STALE_BUTTON: str
TOO_FAST: str
FOREIGN_BUTTON: str
RESULT_GONE: str
REPHRASE_GONE: str

# ── M1 create ────────────────────────────────────────────────────────────────────────────────────
CREATE_CHOOSE_MODEL: str
DRAFT_CHOOSE_MODEL: str


def _model_line(model: ModelSpec, price: str) -> str:
    return _t("model_line").format(model=quote(model.title), price=price)


def choose_format(model: ModelSpec, images: int = 1) -> str:
    tiers = any(fmt.resolution for fmt in model.formats)
    ask = _t("choose_format_tier") if tiers else _t("choose_format")
    per_image = _t("per_image") if model.variant_choices else ""
    price = f"{_model_price(model)}{per_image}"
    return f"{_model_line(model, price)}{variants_note(model, images)}\n{ask}"


def choice_summary(model: ModelSpec, fmt: ImageFormat, images: int = 1) -> str:
    tier = f" · {fmt.resolution}" if fmt.resolution else ""
    chosen = _t("format_line").format(format=f"{_format_title(fmt)}{tier} {fmt.size_label}")
    return f"{_model_line(model, priced_images(model.format_price(fmt), images))}\n{chosen}"


def enter_prompt(model: ModelSpec, images: int = 1) -> str:
    note = "\n" + _t("prompt_translated_note") if model.wants_english else ""
    return f"{_model_line(model, priced_images(model.price, images))}\n{_t('enter_prompt')}{note}"


PROMPT_EMPTY: str


def prompt_too_long(limit: int) -> str:
    return _t("prompt_too_long").format(limit=limit)


# ── extended form ────────────────────────────────────────────────────────────────────────────────
def extended_unknown_key(key: str, accepted: Iterable[str]) -> str:
    return _t("extended_unknown_key").format(key=quote(key), accepted=quote(", ".join(accepted)))


def extended_unknown_model(name: str, accepted: Iterable[str]) -> str:
    return _t("extended_unknown_model").format(name=quote(name), accepted=quote(", ".join(accepted)))


def extended_bad_size(value: str) -> str:
    return _t("extended_bad_size").format(value=quote(value))


def extended_bad_ratio(value: str) -> str:
    return _t("extended_bad_ratio").format(value=quote(value))


def extended_no_negative(model_title: str) -> str:
    return _t("extended_no_negative").format(model=quote(model_title))


def extended_bad_part(part: str) -> str:
    return _t("extended_bad_part").format(part=quote(part))


def extended_duplicate(key: str) -> str:
    return _t("extended_duplicate").format(key=quote(key))


# ── M2 write ─────────────────────────────────────────────────────────────────────────────────────
def write_ask(price: int) -> str:
    return _t("write_ask").format(price=format_rub(price))


WRITE_RESULT_HEADER: str
WRITE_RESULT_FOOTER: str

# ── M3 edit / M8 merge ───────────────────────────────────────────────────────────────────────────
EDIT_CHOOSE_MODEL: str
EDIT_PRELOADED_CHOOSE_MODEL: str
MERGE_CHOOSE_MODEL: str


def send_images(mode: Mode, model: ModelSpec, have: int, max_images: int) -> str:
    ask = _t("send_images_merge") if mode is Mode.merge else _t("send_images")
    head = _model_line(model, format_rub(model.price))
    already = "\n" + _t("images_already").format(have=have) if have else ""
    return f"{head}\n{ask.format(max_images=max_images)}{already}"


def images_received(total: int, max_images: int) -> str:
    return _t("images_received").format(total=total, max_images=max_images)


def too_many_images(max_images: int) -> str:
    return _t("too_many_images").format(max_images=max_images)


NEED_IMAGE_FIRST: str


def need_more_images(minimum: int, have: int) -> str:
    return _t("need_more_images").format(minimum=minimum, have=have)


# ── M4 retouch ───────────────────────────────────────────────────────────────────────────────────
def retouch_send(max_mb: int) -> str:
    return _t("retouch_send").format(max_mb=max_mb)


RETOUCH_CHOOSE_KIND: str


def retouch_instruction(price: int) -> str:
    return _t("retouch_instruction").format(price=format_rub(price))


RETOUCH_SKIPPED: str


def retouch_no_instruction(price: int) -> str:
    return _t("retouch_no_instruction").format(price=format_rub(price))


# ── M5 add text ──────────────────────────────────────────────────────────────────────────────────
def text_send_image(price: int, max_bytes: int) -> str:
    return _t("text_send_image").format(max_mb=max_bytes // (1024 * 1024), price=format_rub(price))


TEXT_ENTER: str


def text_format_chosen(fmt: ImageFormat) -> str:
    return _t("text_format_chosen").format(format=f"{_format_title(fmt)} {fmt.size_label}")


TEXT_STYLE: str


# ── M6 face swap ─────────────────────────────────────────────────────────────────────────────────
def faceswap_send_face(price: int) -> str:
    return _t("faceswap_send_face").format(price=format_rub(price))


FACESWAP_SEND_TARGET: str


# ── M7 upscale ───────────────────────────────────────────────────────────────────────────────────
def upscale_send(price: int) -> str:
    return _t("upscale_send").format(price=format_rub(price))


# ── images ───────────────────────────────────────────────────────────────────────────────────────
DOWNLOAD_FAILED: str


def album_part_refused(index: int, total: int, problem: str) -> str:
    return _t("album_part_refused").format(number=index + 1, total=total, problem=problem)


EXPECTED_IMAGE: str
EXPECTED_BUTTON: str
EXPECTED_TEXT: str
NOT_AN_IMAGE: str
BAD_IMAGE: str
ONE_IMAGE_ONLY: str


def image_too_large(limit_bytes: int) -> str:
    return _t("image_too_large").format(max_mb=limit_bytes // (1024 * 1024))


def image_too_small(min_side: int) -> str:
    return _t("image_too_small").format(min_side=min_side)


def image_aspect_unsupported(max_aspect: float) -> str:
    return _t("image_aspect_unsupported").format(max_aspect=f"{max_aspect:g}")


def input_downscaled(width: int, height: int, model: ModelSpec) -> str:
    limits = []
    if model.max_input_side is not None:
        limits.append(_t("limit_side").format(side=model.max_input_side))
    if model.max_input_pixels is not None:
        limits.append(_t("limit_megapixels").format(mp=f"{model.max_input_pixels / 1_000_000:g}"))
    return _t("input_downscaled").format(
        width=width, height=height, model=quote(model.title), limits=_t("and").join(limits)
    )


IMAGE_TOO_MANY_PIXELS: str
ANIMATED_IMAGE: str


def upload_quota_reached(per_hour: int) -> str:
    return _t("upload_quota_reached").format(per_hour=per_hour)


def upload_bytes_quota_reached(limit_bytes: int, used_bytes: int, retry_in_min: int) -> str:
    mb = 1024 * 1024
    return _t("upload_bytes_quota_reached").format(
        max_mb=limit_bytes // mb, used_mb=f"{round(used_bytes / mb, 1):g}", minutes=retry_in_min
    )


TOO_MANY_JOBS: str
UPLOAD_EXPIRED: str


def album_too_large(limit_pixels: int, limit_bytes: int) -> str:
    return _t("album_too_large").format(
        mp=f"{limit_pixels / 1_000_000:g}", max_mb=limit_bytes // (1024 * 1024)
    )


# ── jobs ─────────────────────────────────────────────────────────────────────────────────────────
MODE_TITLES: Mapping[Mode, str] = _Named("MODE", Mode)

TRANSLATED_NOTE: str
TRANSLATE_FAILED: str
STAGES: Mapping[str, str] = _Named("STAGE", ("queued", "running", "uploading", "downloading"))


def about(seconds: float) -> str:
    """A runner's estimate, rounded up so it reads as one: «примерно 45 с», «примерно 3 мин»."""
    if seconds < 60:
        return _t("about_seconds").format(seconds=max(5, math.ceil(seconds / 5) * 5))
    return _t("about_minutes").format(minutes=math.ceil(seconds / 60))


def job_status(
    mode: Mode,
    price: int,
    job_id: str,
    *,
    stage: str | None = None,
    queue_position: int | None = None,
    eta_s: float | None = None,
    elapsed_s: float | None = None,
    note: str | None = None,
) -> str:
    cost = _t("job_cost").format(price=format_rub(price)) if price else _t("job_free")
    lines = [_t("job_accepted").format(mode=MODE_TITLES[mode], cost=cost)]
    if note:
        lines.append(note)
    if stage is not None:
        progress = STAGES.get(stage, stage)
        if queue_position is not None:  # the jobs ahead: 0 is the next one
            progress += _t("job_queue_position").format(position=queue_position + 1)
        if eta_s is not None:
            progress += f" · {about(eta_s)}"
        if elapsed_s is not None:
            progress += _t("job_elapsed").format(seconds=int(elapsed_s))
        lines.append(_t("job_stage").format(progress=progress))
    lines.append(f"ID: <code>{job_id}</code>")
    return "\n".join(lines)


def order_price(mode: Mode, model: ModelSpec, price: int) -> str:
    cost = _t("price_line").format(price=format_rub(price))
    return f"{MODE_TITLES[mode]} · {quote(model.title)}\n{cost}"


def confirm_launch(mode: Mode, model: ModelSpec, price: int) -> str:
    return f"{order_price(mode, model, price)} {_t('confirm_launch')}"


def insufficient_funds(price: int, available: int) -> str:
    return _t("insufficient_funds").format(
        price=format_rub(price),
        available=format_rub(available),
        missing=format_rub(price - max(available, 0)),
    )


# Each names the cause, then the user's next step (the job_failed text adds that nothing was charged).
FAILURE_REASONS: Mapping[FailureReason, str] = _Named("FAILURE", FailureReason)


def rephrase_ask(previous: str) -> str:
    return _t("rephrase_ask").format(previous=quote(previous))


def job_failed(mode: Mode, reason: FailureReason, job_id: str, *, prompted: bool = True) -> str:
    """``prompted``: the user wrote a prompt for the job. Without one a safety refusal cannot be
    rephrased: it was the image that was refused, so its text says so and offers another photo."""
    if reason is FailureReason.cancelled:
        return job_cancelled(mode, job_id)
    cause = FAILURE_REASONS[reason]
    if reason is FailureReason.moderation and not prompted:
        cause = _t("FAILURE_moderation_no_prompt")
    return _t("job_failed").format(mode=MODE_TITLES[mode], reason=cause, job_id=job_id)


BTN_CANCEL_JOB: str
JOB_CANCEL_REQUESTED: str
JOB_CANCEL_TOO_LATE: str


def job_cancelled(mode: Mode, job_id: str) -> str:
    return _t("job_cancelled").format(mode=MODE_TITLES[mode], job_id=job_id)


def result_caption(mode: Mode, index: int, total: int, fitted: FittedResult, limit_mb: int) -> str:
    suffix = f" ({index + 1}/{total})" if total > 1 else ""
    caption = _t("result_ready").format(mode=MODE_TITLES[mode], part=suffix)
    if fitted.fit is Fit.jpeg:
        caption += "\n" + _t("result_jpeg").format(limit_mb=limit_mb)
    elif fitted.fit is Fit.downscaled:
        caption += "\n" + _t("result_downscaled").format(
            limit_mb=limit_mb, width=fitted.width, height=fitted.height
        )
    return caption


def _undeliverable_cause(cause: Undeliverable, limit_mb: int) -> str:
    if cause is Undeliverable.chat_refused:
        raise ValueError("a chat that refuses the bot is told nothing")
    if cause is Undeliverable.missing:
        return _t("undeliverable_missing")
    if cause is Undeliverable.unreadable:
        return _t("undeliverable_unreadable")
    if cause is Undeliverable.rejected:
        return _t("undeliverable_rejected")
    if cause is Undeliverable.attempts_exhausted:
        return _t("undeliverable_attempts_exhausted")
    return _t("undeliverable_too_large").format(limit_mb=limit_mb)


def result_undeliverable(mode: Mode, cause: Undeliverable, job_id: str, limit_mb: int) -> str:
    return _t("result_undeliverable").format(
        mode=MODE_TITLES[mode], cause=_undeliverable_cause(cause, limit_mb), job_id=job_id
    )


def result_part_undeliverable(index: int, total: int, cause: Undeliverable, limit_mb: int) -> str:
    return _t("result_part_undeliverable").format(
        number=index + 1, total=total, cause=_undeliverable_cause(cause, limit_mb)
    )


# ── balance and history ──────────────────────────────────────────────────────────────────────────
def balance(view: BalanceView) -> str:
    return _t("balance").format(
        balance=format_rub(view.balance),
        reserved=format_rub(view.reserved),
        available=format_rub(view.available),
    )


STATUS_TITLES: _Named[OperationStatus] = _Named("STATUS", OperationStatus)
HISTORY_EMPTY: str


HISTORY_TITLES: Mapping[HistoryKind, str] = _Named(
    "HISTORY",
    HistoryKind,
    aliases={
        HistoryKind.hold: STATUS_TITLES.key(OperationStatus.pending),
        HistoryKind.charge: STATUS_TITLES.key(OperationStatus.charged),
        HistoryKind.release: STATUS_TITLES.key(OperationStatus.failed),
        HistoryKind.refund: STATUS_TITLES.key(OperationStatus.refunded),
    },
)
# Payment rows paid through YooKassa (HistoryEntry.method) instead of Stars.
YOOKASSA_HISTORY_TITLES: Mapping[HistoryKind, str] = _Named(
    "YOOKASSA_HISTORY", (HistoryKind.payment, HistoryKind.payment_refund)
)


def _signed(kopecks: int) -> str:
    return format_rub(kopecks) if kopecks < 0 else f"+{format_rub(kopecks)}"


def _history_line(entry: HistoryEntry, model_titles: dict[str, str]) -> str:
    after = _t("history_balance_after").format(balance=format_rub(entry.balance_after))
    if entry.mode is None or entry.model_id is None or entry.price is None:
        yookassa: Mapping[HistoryKind, str] = YOOKASSA_HISTORY_TITLES if entry.method == "yookassa" else {}
        title = yookassa.get(entry.kind, HISTORY_TITLES[entry.kind])
        return f"{moscow_time(entry.at)} · {title} {_signed(entry.delta)} · {after}"
    model = model_titles.get(entry.model_id, entry.model_id)
    title = HISTORY_TITLES[entry.kind]
    if entry.kind == HistoryKind.partial_refund:  # a part of the price: say how much
        title = f"{title} {_signed(entry.delta)}"
    return (
        f"{moscow_time(entry.at)} · {MODE_TITLES[entry.mode]} · {quote(model)} · "
        f"{format_rub(entry.price)} · {title} · {after}"
    )


def history_page(page: HistoryPage, model_titles: dict[str, str]) -> str:
    if not page.items:
        return _t("HISTORY_EMPTY") if page.total == 0 else _t("history_page_empty").format(page=page.page)
    lines = [_t("history_page").format(page=page.page, pages=page.pages)]
    lines.extend(_history_line(entry, model_titles) for entry in page.items)
    return "\n".join(lines)


# ── «🖼 Мои работы» ──────────────────────────────────────────────────────────────────────────────
BTN_WORK_ORIGINAL: str
BTN_WORK_REPEAT: str
BTN_WORK_EDIT: str
BTN_WORK_UPSCALE: str
WORK_GONE: str
WORK_MODEL_GONE: str
WORK_PROMPT_EXCERPT = 80


def works_empty(ttl_days: int) -> str:
    return _t("works_empty").format(days=ttl_days)


def work_button(number: int, label: str) -> str:
    return f"{number} · {label}"


def _excerpt(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    if len(prompt) <= WORK_PROMPT_EXCERPT:
        return prompt
    return prompt[: WORK_PROMPT_EXCERPT - 1].rstrip() + "…"


def work_entry(
    number: int,
    mode: Mode,
    model_title: str,
    prompt: str,
    created_at: datetime,
    expires_at: datetime,
    *,
    part: tuple[int, int] | None,
    expired: bool,
) -> str:
    """One gallery line: number, mode, model, date (Moscow), the prompt's start and how long it stays."""
    suffix = " " + _t("work_part").format(number=part[0] + 1, total=part[1]) if part is not None else ""
    lines = [
        f"<b>{number}.</b> {MODE_TITLES[mode]}{suffix} · {quote(model_title)} · {moscow_time(created_at)}"
    ]
    if prompt.strip():
        lines.append(f"«{quote(_excerpt(prompt))}»")
    if expired:
        lines.append(_t("work_expired"))
    else:
        lines.append(_t("work_kept_until").format(date=_moscow_date(expires_at)))
    return "\n".join(lines)


def works_page(entries: Iterable[str], page: int, pages: int, ttl_days: int) -> str:
    header = _t("works_page").format(page=page, pages=pages, days=ttl_days)
    hint = _t("works_hint").format(original=_t("BTN_WORK_ORIGINAL"), repeat=_t("BTN_WORK_REPEAT"))
    return "\n\n".join([header, *entries, hint])


def work_original_caption(mode: Mode, created_at: datetime) -> str:
    return _t("work_original_caption").format(mode=MODE_TITLES[mode], time=moscow_time(created_at))


# ── /status ──────────────────────────────────────────────────────────────────────────────────────
STATUS_USAGE: str
STATUS_BAD_ID: str
JOB_NOT_FOUND: str


def _operation_state(op: OperationView) -> str:
    """A job released because its result could not be delivered reads as such, not as a failure."""
    if op.undelivered:
        return HISTORY_TITLES[HistoryKind.undelivered]
    return STATUS_TITLES[op.status]


def operation_status(op: OperationView, model_title: str) -> str:
    return _t("operation_status").format(
        job_id=op.job_id,
        mode=MODE_TITLES[op.mode],
        model=quote(model_title),
        price=format_rub(op.price),
        created=moscow_time(op.created_at),
        status=_operation_state(op),
    )


# ── /add_balance ─────────────────────────────────────────────────────────────────────────────────
NOT_ADMIN: str
TOPUP_USAGE: str
TOPUP_NOT_POSITIVE: str
TOPUP_TOO_LARGE: str
TOPUP_BAD_AMOUNT: str
TOPUP_BAD_USER: str


def topup_done(reply: TopupReply) -> str:
    return _t("topup_done").format(
        user_id=reply.target_user_id,
        amount=format_rub(reply.amount),
        available=format_rub(reply.balance.available),
    )


# ── top-ups with Telegram Stars ──────────────────────────────────────────────────────────────────
TOPUP_CHOOSE: str
TOPUP_CHOOSE_ANY: str
INVOICE_TITLE: str
BTN_TOPUP_OTHER: str


def _topup_limits(low_rub: int, high_rub: int) -> str:
    return _t("topup_limits").format(low=format_rub(rubles(low_rub)), high=format_rub(rubles(high_rub)))


def topup_ask_amount(low_rub: int, high_rub: int) -> str:
    return _t("topup_ask_amount").format(limits=_topup_limits(low_rub, high_rub))


def topup_out_of_limits(low_rub: int, high_rub: int) -> str:
    return _t("topup_out_of_limits").format(limits=_topup_limits(low_rub, high_rub))


TOPUP_UNKNOWN_PACK: str


def topup_button(rub: int) -> str:
    return format_rub(rubles(rub))


def topup_missing_button(rub: int) -> str:
    return _t("topup_missing_button").format(amount=format_rub(rubles(rub)))


def invoice_description(amount: int) -> str:
    return _t("invoice_description").format(amount=format_rub(amount))


def invoice_label(amount: int) -> str:
    return _t("invoice_label").format(amount=format_rub(amount))


# Shown by Telegram in the payment window when the pre-checkout answers "no".
CHECKOUT_NOT_PAYABLE: str
CHECKOUT_UNAVAILABLE: str


def payment_credited(amount: int, available: int) -> str:
    return _t("payment_credited").format(amount=format_rub(amount), available=format_rub(available))


def payment_not_credited(charge_id: str) -> str:
    return _t("payment_not_credited").format(charge_id=quote(charge_id))


PAYSUPPORT: str
# ── top-ups through YooKassa (card, SBP) ────────────────────────────────────────────────────────
BTN_PAY_STARS: str
BTN_PAY_YOOKASSA: str


def topup_method(rub: int) -> str:
    return _t("topup_method").format(amount=format_rub(rubles(rub)))


EMAIL_ASK: str
EMAIL_INVALID: str


def pay_link_button(amount: int) -> str:
    return _t("pay_link_button").format(amount=format_rub(amount))


def payment_link(amount: int) -> str:
    return _t("payment_link").format(amount=format_rub(amount))


PAYMENT_LINK_UNAVAILABLE: str
PAYMENT_LINK_REFUSED: str
REFUND_YOOKASSA_USAGE: str
REFUND_YOOKASSA_UNFINISHED: str


def refund_yookassa_spent(available: int, amount: int) -> str:
    return _t("refund_yookassa_spent").format(amount=format_rub(amount), available=format_rub(available))


def _debited_before(debited: bool) -> str:
    return "" if debited else " " + _t("refund_debited_before")


def refund_yookassa_done(user_id: int, amount: int, debited: bool) -> str:
    return _t("refund_yookassa_done").format(
        amount=format_rub(amount), user_id=user_id, again=_debited_before(debited)
    )


REFUND_USAGE: str
REFUND_UNKNOWN: str


def refund_spent(available: int, amount: int) -> str:
    return _t("refund_spent").format(amount=format_rub(amount), available=format_rub(available))


def refund_done(user_id: int, amount: int, stars: int, debited: bool) -> str:
    return _t("refund_done").format(
        stars=stars, user_id=user_id, amount=format_rub(amount), again=_debited_before(debited)
    )


def refund_telegram_failed(reason: str) -> str:
    return _t("refund_telegram_failed").format(reason=quote(reason))


PAYMENT_REFUNDED: str


# ── promo codes ──────────────────────────────────────────────────────────────────────────────────
PROMO_USAGE: str
PROMO_UNKNOWN: str
PROMO_EXPIRED: str
PROMO_USED_UP: str
PROMO_ALREADY_USED: str


def promo_credited(amount: int, available: int) -> str:
    return _t("promo_credited").format(amount=format_rub(amount), available=format_rub(available))


PROMO_NEW_USAGE: str
PROMO_BAD_CODE: str
PROMO_BAD_USES: str
PROMO_BAD_DATE: str
PROMO_PAST_DATE: str


def _promo_terms(view: PromoView) -> str:
    until = (
        _t("promo_until").format(time=moscow_time(view.expires_at))
        if view.expires_at
        else _t("promo_no_expiry")
    )
    return _t("promo_terms").format(
        code=quote(view.code),
        amount=format_rub(view.amount),
        uses=view.uses,
        max_uses=view.max_uses,
        until=until,
    )


def promo_created(view: PromoView) -> str:
    if view.created:
        return _t("promo_created").format(terms=_promo_terms(view), code=quote(view.code))
    return _t("promo_exists").format(terms=_promo_terms(view))


def invite(link: str, bonus_rub: int) -> str:
    return _t("invite").format(link=link, bonus=format_rub(rubles(bonus_rub)))


INVITE_OFF: str


# ── /stats ───────────────────────────────────────────────────────────────────────────────────────
_REVENUE_METHODS: Mapping[str, str] = _Named("REVENUE", ("stars", "yookassa"))
_CREDIT_SOURCES: Mapping[str, str] = _Named("CREDIT", ("promo", "referral", "welcome", "admin"))


def _amounts(amounts: dict[str, int], names: Mapping[str, str]) -> str:
    if not amounts:
        return format_rub(0)
    return ", ".join(f"{names.get(key, key)} {format_rub(value)}" for key, value in sorted(amounts.items()))


def _stats_period(period: StatsPeriod) -> str:
    jobs = ", ".join(f"{MODE_TITLES[mode]} {count}" for mode, count in sorted(period.jobs.items()))
    title = _t("stats_today") if period.days == 1 else _t("stats_days").format(days=period.days)
    return _t("stats_period").format(
        title=title,
        since=moscow_time(period.since),
        new=period.new_users,
        active=period.active_users,
        paid=period.paid_users,
        jobs=sum(period.jobs.values()),
        by_mode=f" ({jobs})" if jobs else "",
        revenue=format_rub(period.total_revenue),
        by_method=_amounts(period.revenue, _REVENUE_METHODS),
        credits=_amounts(period.credits, _CREDIT_SOURCES),
        charged=format_rub(period.charged),
        cost=format_rub(period.provider_cost),
        margin=format_rub(period.margin),
        jobs_margin=format_rub(period.jobs_margin),
    )


def stats(reply: StatsReply) -> str:
    return _t("stats") + "\n\n" + "\n\n".join(_stats_period(period) for period in reply.periods)


# ── generic errors and fallbacks ─────────────────────────────────────────────────────────────────
SERVICE_UNAVAILABLE: str
SERVICE_CONFLICT: str
SERVICE_PROVIDER_BUSY: str
SERVICE_PROVIDER_REJECTED: str
SERVICE_PROVIDER_ERROR: str
UNKNOWN_USER: str
INTERNAL_ERROR: str
REQUEST_REFUSED: str
BAD_AMOUNT: str
ORDER_NOT_FOUND: str
EMAIL_REQUIRED: str
UNKNOWN_MESSAGE: str
UNSUPPORTED_AT_MENU: str


# ── /delete_me ───────────────────────────────────────────────────────────────────────────────────
DELETE_ME_ASK: str
DELETE_ME_DONE: str
DELETE_ME_CANCELLED: str
DELETE_ME_BUSY: str
DELETE_ME_FAILED: str


# ----- typed errors → replies (the errors router and album parts answer with these) -----------------
_TOPUP_TEXTS = {
    TopupProblem.usage: "TOPUP_USAGE",
    TopupProblem.not_positive: "TOPUP_NOT_POSITIVE",
    TopupProblem.too_large: "TOPUP_TOO_LARGE",
    TopupProblem.bad_amount: "TOPUP_BAD_AMOUNT",
    TopupProblem.bad_user: "TOPUP_BAD_USER",
}
_PROMO_TEXTS = {
    PromoProblem.usage: "PROMO_NEW_USAGE",
    PromoProblem.bad_code: "PROMO_BAD_CODE",
    PromoProblem.bad_uses: "PROMO_BAD_USES",
    PromoProblem.bad_date: "PROMO_BAD_DATE",
    PromoProblem.past_date: "PROMO_PAST_DATE",
}


def _describe_form(error: ExtendedFormError) -> str:
    if error.problem is FormProblem.unknown_key:
        return extended_unknown_key(error.value, error.accepted)
    if error.problem is FormProblem.unknown_model:
        return extended_unknown_model(error.value, error.accepted)
    if error.problem is FormProblem.bad_size:
        return extended_bad_size(error.value)
    if error.problem is FormProblem.bad_ratio:
        return extended_bad_ratio(error.value)
    if error.problem is FormProblem.duplicate:
        return extended_duplicate(error.value)
    if error.problem is FormProblem.no_negative:
        return extended_no_negative(error.value)
    return extended_bad_part(error.value)


def describe_input(error: InputRejected) -> str:
    """The user-facing text of an input problem."""
    match error:
        case NotAnImage():
            return _t("NOT_AN_IMAGE")
        case BadImage():
            return _t("BAD_IMAGE")
        case DownloadFailed():
            return _t("DOWNLOAD_FAILED")
        case ImageTooLarge():
            return image_too_large(error.limit_bytes)
        case TooManyPixels():
            return _t("IMAGE_TOO_MANY_PIXELS")
        case AnimatedImage():
            return _t("ANIMATED_IMAGE")
        case AlbumTooLarge():
            return album_too_large(error.limit_pixels, error.limit_bytes)
        case UploadQuotaReached():
            return upload_quota_reached(error.per_hour)
        case UploadBytesQuotaReached():
            return upload_bytes_quota_reached(error.limit_bytes, error.used_bytes, error.retry_in_min)
        case UploadExpired():
            return _t("UPLOAD_EXPIRED")
        case ImageTooSmall():
            return image_too_small(error.min_side)
        case ImageAspectUnsupported():
            return image_aspect_unsupported(error.max_aspect)
        case TooManyImages():
            return too_many_images(error.max_images)
        case NotEnoughImages() if error.have == 0:
            return _t("NEED_IMAGE_FIRST")
        case NotEnoughImages():
            return need_more_images(error.minimum, error.have)
        case AlbumNotAllowed():
            return _t("ONE_IMAGE_ONLY")
        case EmptyPrompt():
            return _t("PROMPT_EMPTY")
        case PromptTooLong():
            return prompt_too_long(error.limit)
        case ExtendedFormError():
            return _describe_form(error)
        case TopupArgsError():
            return _t(_TOPUP_TEXTS[error.problem])
        case TopupOutOfLimits():
            return topup_out_of_limits(error.low_rub, error.high_rub)
        case PromoArgsError():
            return _t(_PROMO_TEXTS[error.problem])
        case StatusArgsError():
            return _t("STATUS_USAGE") if error.missing else _t("STATUS_BAD_ID")
    return _t("INTERNAL_ERROR")


# Every ErrorCode → the catalog key of the text naming its cause; the gateway's tests fail on a code
# left out. Codes share a text only where they are one cause for the user, each group named below.
SERVICE_ERROR_TEXTS: Mapping[ErrorCode, str] = {
    ErrorCode.bad_request: "REQUEST_REFUSED",
    ErrorCode.insufficient_funds: "insufficient_funds",  # filled in with the price and the balance
    ErrorCode.too_many_jobs: "TOO_MANY_JOBS",
    ErrorCode.unknown_user: "UNKNOWN_USER",
    ErrorCode.unknown_job: "JOB_NOT_FOUND",
    ErrorCode.unknown_order: "ORDER_NOT_FOUND",
    ErrorCode.not_admin: "NOT_ADMIN",
    ErrorCode.bad_amount: "BAD_AMOUNT",
    ErrorCode.email_required: "EMAIL_REQUIRED",
    ErrorCode.conflict: "SERVICE_CONFLICT",
    # "Our service did not answer": unreachable or too slow (rpc.call already reports a bus timeout
    # as unavailable); either way nothing happened and a try a minute later is the step.
    ErrorCode.unavailable: "SERVICE_UNAVAILABLE",
    ErrorCode.timeout: "SERVICE_UNAVAILABLE",
    ErrorCode.provider_busy: "SERVICE_PROVIDER_BUSY",
    ErrorCode.provider_rejected: "SERVICE_PROVIDER_REJECTED",
    # "The provider failed": an error, or an answer unusable after the repair we ask for.
    ErrorCode.provider_error: "SERVICE_PROVIDER_ERROR",
    ErrorCode.llm_bad_output: "SERVICE_PROVIDER_ERROR",
    # "A fault of ours": a service's bug is the same to the user as the gateway's own (``unexpected``).
    ErrorCode.internal: "INTERNAL_ERROR",
}


def describe_service_error(error: MediaLabError) -> str:
    if isinstance(error, InsufficientFunds):
        return insufficient_funds(error.price, error.available)
    return _t(SERVICE_ERROR_TEXTS[error.code])


# ----- names read per locale (see the module's docstring) -------------------------------------------
_COMPUTED: dict[str, Callable[[], Any]] = {
    "MENU_LAYOUT": lambda: tuple(tuple(_t(key) for key in row) for row in _MENU_KEYS),
    "COMMANDS": lambda: commands(referrals_on=False),
    "INVITE_COMMAND": lambda: ("invite", _t("CMD_invite")),
    "GUIDE": _guide,
    "START": lambda: _t("START") + "\n\n" + _guide(),
    "INFO": lambda: _t("INFO") + "\n\n" + _guide(),
}
# Declared names (``NAME: str``) without a value: each is its catalog entry. The catalog test reads this.
CATALOG_NAMES: frozenset[str] = frozenset(
    name for name, kind in __annotations__.items() if kind == "str" and name not in _COMPUTED
)

if not TYPE_CHECKING:  # mypy checks the declared names themselves, not a catch-all

    def __getattr__(name: str) -> Any:
        computed = _COMPUTED.get(name)
        if computed is not None:
            return computed()
        if name in CATALOG_NAMES:
            return _t(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
