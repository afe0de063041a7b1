"""Keyboards, callback data (≤ 64 bytes, round trip) and texts."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from gateway_bot import keyboards, texts
from gateway_bot.callbacks import (
    FormatCb,
    HistoryCb,
    ModelCb,
    NavAction,
    NavCb,
    ResultAction,
    ResultCb,
    RetouchCb,
    RetouchKind,
    TopupCb,
)
from gateway_bot.delivery.fitting import Undeliverable
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
from gateway_bot.payments import topup_for
from medialab_contracts.billing import HistoryEntry, HistoryKind, HistoryPage, OperationStatus
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import ErrorCode, ErrorReply, MediaLabError
from medialab_contracts.events import FailureReason
from medialab_contracts.ids import new_job_id
from medialab_contracts.modes import Mode

CATALOG = default_catalog()
FLOW = "deadbeef"


def _all_callbacks() -> list[CallbackData]:
    # A fixed id of the real length: the ids of parametrized tests must be the same in every worker.
    job = "f" * len(new_job_id())
    longest_key = max((m.key for m in CATALOG.models), key=len)
    return [
        *(NavCb(action=action, flow=FLOW) for action in NavAction),
        ModelCb(flow=FLOW, model=longest_key),
        *(FormatCb(flow=FLOW, fmt=fmt.key) for model in CATALOG.models for fmt in model.formats),
        *(RetouchCb(flow=FLOW, kind=kind) for kind in RetouchKind),
        *(ResultCb(action=action, job=job, n=3) for action in ResultAction),
        HistoryCb(page=100_000),
        TopupCb(rub=1_000_000),
    ]


@pytest.mark.parametrize("callback", _all_callbacks(), ids=lambda cb: cb.pack())
def test_callbacks_fit_64_bytes_and_round_trip(callback: CallbackData) -> None:
    packed = callback.pack()
    assert len(packed.encode()) <= 64
    assert type(callback).unpack(packed) == callback


def button_labels(markup: InlineKeyboardMarkup) -> list[str]:
    return [button.text for row in markup.inline_keyboard for button in row]


def test_a_model_with_resolutions_prices_each_format_button_by_its_tier() -> None:
    labels = button_labels(keyboards.formats(CATALOG.by_key("nbp"), FLOW))
    assert labels[:3] == [
        "Вертикальное 3:4 · 1K 896×1200 · 24 ₽",
        "Квадрат 1:1 · 1K 1024×1024 · 24 ₽",
        "Горизонтальное 4:3 · 1K 1200×896 · 24 ₽",
    ]
    assert labels[6:9] == [  # fal bills 4K at twice the price
        "Вертикальное 3:4 · 4K 3584×4800 · 48 ₽",
        "Квадрат 1:1 · 4K 4096×4096 · 48 ₽",
        "Горизонтальное 4:3 · 4K 4800×3584 · 48 ₽",
    ]
    costly = default_catalog({"nbp@4K": 6000}).by_key("nbp")
    assert button_labels(keyboards.formats(costly, FLOW))[7] == "Квадрат 1:1 · 4K 4096×4096 · 60 ₽"
    assert texts.model_button(costly) == "Nano Banana Pro · от 24 ₽"


def test_main_menu_has_every_mode_button() -> None:
    markup = keyboards.main_menu()
    labels = [button.text for row in markup.keyboard for button in row]
    assert labels == [label for row in texts.MENU_LAYOUT for label in row]
    assert len(labels) == 12 and len(set(labels)) == 12


def test_model_keyboard_shows_prices_and_cancel() -> None:
    markup = keyboards.models(CATALOG.for_mode(Mode.create), FLOW)
    labels = [button.text for row in markup.inline_keyboard for button in row]
    assert labels == ["Nano Banana Pro · от 24 ₽", "Nano-banana · 8 ₽", "Seedream · 8 ₽", "❌ Отмена"]
    first = markup.inline_keyboard[0][0]
    assert ModelCb.unpack(first.callback_data) == ModelCb(flow=FLOW, model="nbp")


def test_result_keyboard_binds_job_and_index() -> None:
    job = new_job_id()
    markup = keyboards.image_result(job, 1)
    ((edit, upscale),) = markup.inline_keyboard
    assert (edit.text, upscale.text) == ("✏️ Редактировать", "🔍 Upscale")
    assert ResultCb.unpack(upscale.callback_data) == ResultCb(action=ResultAction.upscale, job=job, n=1)


def test_confirm_keyboard_launches_or_cancels_this_flow_only() -> None:
    ((launch, cancel),) = keyboards.confirm(FLOW).inline_keyboard
    assert (launch.text, cancel.text) == ("✅ Запустить", "❌ Отмена")
    assert NavCb.unpack(launch.callback_data) == NavCb(action=NavAction.launch, flow=FLOW)
    assert NavCb.unpack(cancel.callback_data) == NavCb(action=NavAction.cancel, flow=FLOW)


@pytest.mark.parametrize(
    ("page", "pages", "labels"), [(1, 1, None), (1, 3, ["▶"]), (2, 3, ["◀", "▶"]), (3, 3, ["◀"])]
)
def test_history_pager(page: int, pages: int, labels: list[str] | None) -> None:
    markup = keyboards.history(page, pages)
    assert (None if markup is None else [b.text for row in markup.inline_keyboard for b in row]) == labels


def test_every_failure_reason_and_mode_has_russian_text() -> None:
    assert set(texts.FAILURE_REASONS) == set(FailureReason)
    assert set(texts.MODE_TITLES) == set(Mode)
    assert set(texts.STATUS_TITLES) == set(OperationStatus)
    assert set(texts.HISTORY_TITLES) == set(HistoryKind)
    job = new_job_id()
    for reason in FailureReason:
        message = texts.job_failed(Mode.create, reason, job)
        assert "Средства не списаны" in message and job in message


def test_history_in_moscow_time_with_credits_and_the_balance_after_each_row() -> None:
    charge = HistoryEntry(
        kind=HistoryKind.charge,
        at=datetime(2025, 1, 31, 21, 30, tzinfo=UTC),
        delta=-2400,
        balance_after=3600,
        job_id=new_job_id(),
        mode=Mode.create,
        model_id="fal-ai/nano-banana-pro",
        price=2400,
    )
    topup = HistoryEntry(
        kind=HistoryKind.topup, at=datetime(2025, 1, 31, 20, 0, tzinfo=UTC), delta=3000, balance_after=6000
    )
    welcome = HistoryEntry(
        kind=HistoryKind.welcome, at=datetime(2025, 1, 31, 19, 0, tzinfo=UTC), delta=3000, balance_after=3000
    )
    page = HistoryPage(items=[charge, topup, welcome], page=1, page_size=5, total=6)
    text = texts.history_page(page, {"fal-ai/nano-banana-pro": "Nano Banana Pro"})
    assert "страница 1 из 2" in text
    assert "01.02.2025 00:30 (Мск) · Создание · Nano Banana Pro · 24 ₽ · ✅ списано · баланс 36 ₽" in text
    assert "31.01.2025 23:00 (Мск) · 💳 пополнение +30 ₽ · баланс 60 ₽" in text
    assert "31.01.2025 22:00 (Мск) · 🎁 приветственный бонус +30 ₽ · баланс 30 ₽" in text


def test_history_shows_stars_payments_and_their_refunds_signed() -> None:
    at = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    page = HistoryPage(
        items=[
            HistoryEntry(kind=HistoryKind.payment_refund, at=at, delta=-10_000, balance_after=3000),
            HistoryEntry(kind=HistoryKind.payment, at=at, delta=10_000, balance_after=13_000),
        ],
        page=1,
        page_size=5,
        total=2,
    )
    text = texts.history_page(page, {})
    assert "01.02.2025 12:00 (Мск) · ↩️ возврат звёзд −100 ₽ · баланс 30 ₽" in text
    assert "01.02.2025 12:00 (Мск) · ⭐ пополнение звёздами +100 ₽ · баланс 130 ₽" in text


def test_history_labels_promo_and_referral_credits() -> None:
    at = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    page = HistoryPage(
        items=[
            HistoryEntry(kind=HistoryKind.referral, at=at, delta=5000, balance_after=9500),
            HistoryEntry(kind=HistoryKind.promo, at=at, delta=1500, balance_after=4500),
        ],
        page=1,
        page_size=5,
        total=2,
    )
    text = texts.history_page(page, {})
    assert "01.02.2025 12:00 (Мск) · 🤝 бонус за приглашённого друга +50 ₽ · баланс 95 ₽" in text
    assert "01.02.2025 12:00 (Мск) · 🎟 промокод +15 ₽ · баланс 45 ₽" in text


def test_a_refusal_for_funds_offers_a_top_up_that_covers_the_gap() -> None:
    assert topup_for(1400, [100, 300, 1000], 50, 10_000) == 100
    assert topup_for(25_000, [100, 300, 1000], 50, 10_000) == 300
    # Nothing covers it: the shortfall in whole rubles, rounded up, within the limits.
    assert topup_for(200_001, [100, 300, 1000], 50, 10_000) == 2001
    assert topup_for(5_000_000, [100, 300, 1000], 50, 10_000) == 10_000
    markup = keyboards.topup_missing(300)
    [[button]] = markup.inline_keyboard
    assert button.text == "💳 Пополнить на 300 ₽"
    assert button.callback_data == TopupCb(rub=300).pack()


def test_insufficient_funds_names_price_and_balance() -> None:
    assert texts.insufficient_funds(2400, 1000).startswith(
        "Недостаточно средств: стоимость 24 ₽, доступно 10 ₽."
    )


def test_user_values_are_escaped() -> None:
    assert "&lt;b&gt;" in texts.extended_unknown_model("<b>", ["nano"])


def test_texts_module_holds_no_latin_only_user_sentences() -> None:
    # Every sentence constant a user reads is Russian (commands, model names and placeholders aside).
    for name, value in vars(texts).items():
        if name.isupper() and isinstance(value, str) and len(value) > 25:
            assert re.search("[а-яА-ЯёЁ]", value), name


def _service_error(code: ErrorCode) -> MediaLabError:
    """The error a caller raises for ``code``, as ``rpc.call`` makes it from the service's reply."""
    extra = {
        ErrorCode.insufficient_funds: {"available": 1000, "price": 2400},
        ErrorCode.too_many_jobs: {"limit": 3},
    }
    return MediaLabError.from_reply(ErrorReply(code=code, message="x", **extra.get(code, {})))


def _service_error_groups() -> dict[str, list[ErrorCode]]:
    """The codes by the catalog text they are told with: one group is one cause for the user."""
    groups: dict[str, list[ErrorCode]] = {}
    for code, key in texts.SERVICE_ERROR_TEXTS.items():
        groups.setdefault(key, []).append(code)
    return groups


def _input_errors() -> list[InputRejected]:
    return [
        NotAnImage("x"),
        BadImage("x"),
        DownloadFailed("x"),
        ImageTooLarge(10 * 1024 * 1024),
        TooManyPixels("x"),
        AnimatedImage("x"),
        AlbumTooLarge(50_000_000, 40 * 1024 * 1024),
        UploadQuotaReached(30),
        UploadBytesQuotaReached(200 * 1024 * 1024, 190 * 1024 * 1024, 12),
        UploadExpired("x"),
        ImageTooSmall(32),
        ImageAspectUnsupported(3.0),
        TooManyImages(4),
        NotEnoughImages(2, 0),
        NotEnoughImages(2, 1),
        AlbumNotAllowed("x"),
        EmptyPrompt("x"),
        PromptTooLong(100),
        *(ExtendedFormError(problem, "x", ("a",)) for problem in FormProblem),
        *(TopupArgsError(problem) for problem in TopupProblem),
        TopupOutOfLimits(50, 10_000),
        *(PromoArgsError(problem) for problem in PromoProblem),
        StatusArgsError(missing=True),
        StatusArgsError(missing=False),
    ]


def _subclasses(kind: type) -> set[type]:
    found = set(kind.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_no_failure_text_is_used_for_two_different_causes() -> None:
    # Every code a service can answer with has its entry: a new code without one fails here, instead
    # of being told to the user as some other cause.
    assert set(texts.SERVICE_ERROR_TEXTS) == set(ErrorCode)
    job = new_job_id()
    errors = _input_errors()
    assert {type(error) for error in errors} == _subclasses(InputRejected)  # every input problem
    causes = {
        **{f"job:{reason}": texts.job_failed(Mode.create, reason, job) for reason in FailureReason},
        # A safety refusal of a job without a prompt: no words to rephrase, the image was refused.
        "job:moderation:no-prompt": texts.job_failed(
            Mode.create, FailureReason.moderation, job, prompted=False
        ),
        **{f"input:{index}": texts.describe_input(error) for index, error in enumerate(errors)},
        **{
            f"service:{'|'.join(codes)}": texts.describe_service_error(_service_error(codes[0]))
            for codes in _service_error_groups().values()
        },
        **{
            f"result:{cause}": texts.result_undeliverable(Mode.create, cause, job, 50)
            for cause in Undeliverable
            if cause is not Undeliverable.chat_refused  # a chat that refuses the bot is told nothing
        },
        "translation": texts.TRANSLATE_FAILED,
        "stale": texts.STALE_BUTTON,
    }
    assert len(set(causes.values())) == len(causes), sorted(causes.items(), key=lambda item: item[1])
    # The errors router's own answers are those of their group: funds short, and a bug of ours.
    funds = texts.describe_service_error(_service_error(ErrorCode.insufficient_funds))
    assert funds == texts.insufficient_funds(2400, 1000)
    assert texts.describe_service_error(_service_error(ErrorCode.internal)) == texts.INTERNAL_ERROR


def test_a_gone_input_a_long_text_and_a_foreign_upload_are_told_apart_from_a_bad_request() -> None:
    job = new_job_id()
    told = {reason: texts.job_failed(Mode.text, reason, job) for reason in FailureReason}
    assert "больше не хранится" in told[FailureReason.input_gone]
    assert "отправьте фото снова" in told[FailureReason.input_gone]
    assert (
        "слишком длинный" in told[FailureReason.text_too_long]
        and "сократите" in told[FailureReason.text_too_long]
    )
    assert "другим пользователем" in told[FailureReason.foreign_input]
    assert "своё фото" in told[FailureReason.foreign_input]
    assert "измените промпт" in told[FailureReason.bad_input]
    with texts.use_locale("en"):
        assert "send the photo again" in texts.job_failed(Mode.text, FailureReason.input_gone, job)
        assert "shorten it" in texts.job_failed(Mode.text, FailureReason.text_too_long, job)


def test_insufficient_funds_says_how_much_is_missing_and_how_to_top_up() -> None:
    text = texts.insufficient_funds(2400, 1000)
    assert "Не хватает 14 ₽" in text and "пополните баланс" in text


def test_an_album_part_refusal_says_which_part() -> None:
    text = texts.album_part_refused(1, 3, texts.NOT_AN_IMAGE)
    assert text.startswith("Фото 2 из 3 в альбоме не принято.") and texts.NOT_AN_IMAGE in text


def test_a_busy_provider_is_told_apart_from_a_timeout() -> None:
    busy = texts.job_failed(Mode.create, FailureReason.provider_busy, new_job_id())
    timeout = texts.job_failed(Mode.create, FailureReason.timeout, new_job_id())
    assert "перегружен" in busy and "попробуйте через минуту" in busy and "Средства не списаны" in busy
    assert "перегружен" not in timeout and "не успела" in timeout and "Средства не списаны" in timeout
