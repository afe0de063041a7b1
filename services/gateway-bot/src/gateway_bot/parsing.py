"""Parsers of what users type: the extended create form, /add_balance and /status arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from medialab_contracts.catalog import Catalog, ModelSpec, UnknownModelName
from medialab_contracts.ids import JOB_ID_PATTERN
from medialab_contracts.jobs import MAX_PROMPT_CHARS, ImageSize
from medialab_contracts.money import KOPECKS_PER_RUBLE, MAX_AMOUNT
from medialab_contracts.promo import MAX_PROMO_USES, PROMO_CODE_PATTERN, normalize_code

from gateway_bot.failures import (
    EmptyPrompt,
    ExtendedFormError,
    FormProblem,
    PromoArgsError,
    PromoProblem,
    PromptTooLong,
    StatusArgsError,
    TopupArgsError,
    TopupOutOfLimits,
    TopupProblem,
)
from gateway_bot.texts import MOSCOW

EXTENDED_PREFIX = "изображение"
# English users' keyword; only with «|» options, since plenty of plain prompts start "Image of …".
EXTENDED_PREFIX_EN = "image"
EXTENDED_KEYS = ("model", "size", "aspect_ratio", "negative")
DEFAULT_EXTENDED_MODEL = "nb"
_SIZE = re.compile(r"^(\d{1,5})\s*[xх×*]\s*(\d{1,5})$", re.IGNORECASE)
_RATIO = re.compile(r"^(\d{1,2}):(\d{1,2})$")
_MIN_SIDE, _MAX_SIDE = 64, 8192


@dataclass(frozen=True)
class ExtendedRequest:
    prompt: str
    model: ModelSpec
    size: ImageSize | None = None
    aspect_ratio: str | None = None
    negative: str | None = None


def clean_prompt(text: str | None) -> str:
    prompt = (text or "").strip()
    if not prompt:
        raise EmptyPrompt("empty prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptTooLong(MAX_PROMPT_CHARS)
    return prompt


def _starts_with_word(text: str, word: str) -> bool:
    head = text.lstrip()[: len(word) + 1].lower()
    return head.startswith(word) and (len(head) == len(word) or not head[-1].isalnum())


def _extended_prefix(text: str) -> str | None:
    if _starts_with_word(text, EXTENDED_PREFIX):
        return EXTENDED_PREFIX
    if "|" in text and _starts_with_word(text, EXTENDED_PREFIX_EN):
        return EXTENDED_PREFIX_EN
    return None


def is_extended_form(text: str) -> bool:
    return _extended_prefix(text) is not None


def _parse_size(value: str) -> ImageSize:
    match = _SIZE.match(value.strip())
    if not match:
        raise ExtendedFormError(FormProblem.bad_size, value)
    width, height = int(match.group(1)), int(match.group(2))
    if not (_MIN_SIDE <= width <= _MAX_SIDE and _MIN_SIDE <= height <= _MAX_SIDE):
        raise ExtendedFormError(FormProblem.bad_size, value)
    return ImageSize(width=width, height=height)


def _parse_ratio(value: str) -> str:
    match = _RATIO.match(value.strip())
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise ExtendedFormError(FormProblem.bad_ratio, value)
    return f"{int(match.group(1))}:{int(match.group(2))}"


def parse_extended(text: str, catalog: Catalog) -> ExtendedRequest:
    """``Изображение <prompt> | model=… | size=WxH | aspect_ratio=W:H | negative=…`` (or ``Image …``)."""
    body = text.lstrip()[len(_extended_prefix(text) or "") :]
    head, *parts = body.split("|")
    options: dict[str, str] = {}
    for part in parts:
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise ExtendedFormError(FormProblem.bad_part, part.strip())
        if key not in EXTENDED_KEYS:
            raise ExtendedFormError(FormProblem.unknown_key, key, EXTENDED_KEYS)
        if key in options:
            raise ExtendedFormError(FormProblem.duplicate, key)
        options[key] = value.strip()
    prompt = clean_prompt(head.lstrip(" :—-"))
    try:
        model = catalog.resolve_text_to_image(options.get("model") or DEFAULT_EXTENDED_MODEL)
    except UnknownModelName as error:
        raise ExtendedFormError(FormProblem.unknown_model, error.name, tuple(error.accepted)) from None
    negative = options.get("negative") or None
    if negative is not None and not model.takes_negative:
        # Refused here, before the price is offered or anything paid (a translation) is done.
        raise ExtendedFormError(FormProblem.no_negative, model.title)
    if negative is not None and len(negative) > MAX_PROMPT_CHARS:
        raise PromptTooLong(MAX_PROMPT_CHARS)
    return ExtendedRequest(
        prompt=prompt,
        model=model,
        size=_parse_size(options["size"]) if "size" in options else None,
        aspect_ratio=_parse_ratio(options["aspect_ratio"]) if "aspect_ratio" in options else None,
        negative=negative,
    )


@dataclass(frozen=True)
class TopupArgs:
    amount: int  # kopecks
    target_user_id: int | None = None  # None: the admin themself


_RUBLES = re.compile(r"([0-9]{1,12})(?:[.,]([0-9]{1,2}))?")
_USER_ID = re.compile(r"[0-9]{1,16}")


def parse_rubles(value: str) -> int:
    """``"500"`` → 50000, ``"99,50"`` → 9950; plain ASCII digits only, never through a float
    (exponents, other scripts' digits and superscripts are refused, not interpreted)."""
    text = value.replace("₽", "").strip()
    if text.startswith("-"):
        raise TopupArgsError(TopupProblem.not_positive)
    match = _RUBLES.fullmatch(text)
    if match is None:
        raise TopupArgsError(TopupProblem.bad_amount)
    whole, fraction = match.groups()
    kopecks = int(whole) * KOPECKS_PER_RUBLE + int((fraction or "").ljust(2, "0"))
    if kopecks <= 0:
        raise TopupArgsError(TopupProblem.not_positive)
    if kopecks > MAX_AMOUNT:
        raise TopupArgsError(TopupProblem.too_large)
    return kopecks


def parse_add_balance(args: str | None) -> TopupArgs:
    parts = (args or "").split()
    if len(parts) == 1:
        return TopupArgs(amount=parse_rubles(parts[0]))
    if len(parts) == 2:
        user, amount = parts
        if _USER_ID.fullmatch(user) is None or not 0 < int(user) <= 2**52:
            raise TopupArgsError(TopupProblem.bad_user)
        return TopupArgs(amount=parse_rubles(amount), target_user_id=int(user))
    raise TopupArgsError(TopupProblem.usage)


def parse_topup_amount(text: str | None, low_rub: int, high_rub: int) -> int:
    """A top-up amount the user typed, kopecks, within the limits (whole rubles: the limits' unit)."""
    amount = parse_rubles(text or "")
    if not low_rub * KOPECKS_PER_RUBLE <= amount <= high_rub * KOPECKS_PER_RUBLE:
        raise TopupOutOfLimits(low_rub, high_rub)
    return amount


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")


@dataclass(frozen=True)
class PromoArgs:
    code: str
    amount: int  # kopecks
    max_uses: int
    expires_at: datetime | None  # the end of the UNTIL day, Moscow time


def _parse_until(value: str, today: date) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        if day < today:
            raise PromoArgsError(PromoProblem.past_date)
        # Valid through the whole UNTIL day in Moscow: it ends at the next midnight there.
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=MOSCOW)
    raise PromoArgsError(PromoProblem.bad_date)


def parse_promo_new(args: str | None, now: datetime) -> PromoArgs:
    """``CODE AMOUNT [USES] [UNTIL]``: UNTIL a date (2026-12-31 or 31.12.2026) when USES is given."""
    parts = (args or "").split()
    if not 2 <= len(parts) <= 4:
        raise PromoArgsError(PromoProblem.usage)
    code = normalize_code(parts[0])
    if re.fullmatch(PROMO_CODE_PATTERN, code) is None:
        raise PromoArgsError(PromoProblem.bad_code)
    amount = parse_rubles(parts[1])
    uses = 1
    if len(parts) >= 3:
        if not parts[2].isascii() or not parts[2].isdigit() or not 1 <= int(parts[2]) <= MAX_PROMO_USES:
            raise PromoArgsError(PromoProblem.bad_uses)
        uses = int(parts[2])
    until = _parse_until(parts[3], now.astimezone(MOSCOW).date()) if len(parts) == 4 else None
    return PromoArgs(code=code, amount=amount, max_uses=uses, expires_at=until)


_REFERRAL = re.compile(r"ref_([1-9][0-9]{0,15})")


def parse_referral(payload: str | None) -> int | None:
    """The referrer's id in a ``/start ref_<id>`` payload, else None."""
    match = _REFERRAL.fullmatch((payload or "").strip())
    return int(match.group(1)) if match and int(match.group(1)) <= 2**52 else None


def parse_job_id(args: str | None) -> str:
    value = (args or "").strip().lower()
    if not value:
        raise StatusArgsError(missing=True)
    if not re.fullmatch(JOB_ID_PATTERN, value):
        raise StatusArgsError(missing=False)
    return value
