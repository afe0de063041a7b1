"""Every Russian string the bot shows, and the small functions that fill them in.

Handlers never hold user-facing text: they look it up here. Messages use HTML parse mode, so every
value that comes from a user or a provider goes through ``quote``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.utils.text_decorations import html_decoration
from medialab_contracts.billing import (
    BalanceView,
    HistoryEntry,
    HistoryKind,
    HistoryPage,
    OperationStatus,
    OperationView,
    TopupReply,
)
from medialab_contracts.catalog import ImageFormat, ModelSpec
from medialab_contracts.errors import (
    BadAmount,
    BadRequest,
    MediaLabError,
    NotAdmin,
    TooManyJobs,
    UnknownJob,
    UnknownUser,
)
from medialab_contracts.events import FailureReason
from medialab_contracts.modes import Mode
from medialab_contracts.money import format_rub, rubles
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
    UploadExpired,
    UploadQuotaReached,
)

MOSCOW = ZoneInfo("Europe/Moscow")


def quote(value: str) -> str:
    return html_decoration.quote(value)


# ── main menu buttons ────────────────────────────────────────────────────────────────────────────
BTN_CREATE = "🎨 Создать"
BTN_WRITE = "✍️ Написать"
BTN_EDIT = "✏️ Изменить"
BTN_MERGE = "🔗 Объединить"
BTN_RETOUCH = "✨ Ретушь"
BTN_TEXT = "📝 Добавить текст"
BTN_FACESWAP = "🔄 Заменить лицо"
BTN_UPSCALE = "⬆️ Улучшить"
BTN_BALANCE = "💰 Баланс"
BTN_TOPUP = "💳 Пополнить"
BTN_INFO = "ℹ️ Info"
BTN_WORKS = "🖼 Мои работы"

MENU_LAYOUT: tuple[tuple[str, ...], ...] = (
    (BTN_CREATE, BTN_WRITE),
    (BTN_EDIT, BTN_MERGE),
    (BTN_RETOUCH, BTN_TEXT),
    (BTN_FACESWAP, BTN_UPSCALE),
    (BTN_BALANCE, BTN_TOPUP),
    (BTN_WORKS, BTN_INFO),
)
MENU_BUTTONS: frozenset[str] = frozenset(button for row in MENU_LAYOUT for button in row)
MENU_PLACEHOLDER = "Выберите режим или напишите промпт"

# ── inline buttons ───────────────────────────────────────────────────────────────────────────────
BTN_CANCEL = "❌ Отмена"
BTN_SKIP = "Пропустить"
BTN_LAUNCH = "✅ Запустить"
BTN_RESULT_EDIT = "✏️ Редактировать"
BTN_RESULT_UPSCALE = "🔍 Upscale"
BTN_CREATE_FROM_PROMPT = "🎨 Создать по этому промпту"
BTN_HISTORY = "📊 История операций"
BTN_PREV = "◀"
BTN_NEXT = "▶"
BTN_REPHRASE = "✏️ Переформулировать"
BTN_DELETE_ME = "🗑 Да, удалить"
BTN_RETOUCH_SOFT = "Мягкая ретушь"
BTN_RETOUCH_ENHANCE = "Усилить черты"


def _model_price(model: ModelSpec) -> str:
    """Its price, or «от …» for a model whose resolutions cost differently (the buttons say each)."""
    lowest = format_rub(model.lowest_price)
    return f"от {lowest}" if model.varies_in_price else lowest


def model_button(model: ModelSpec) -> str:
    return f"{model.title} · {_model_price(model)}"


def _variants_word(n: int) -> str:
    return "вариант" if n == 1 else "варианта" if n < 5 else "вариантов"


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
    return (
        f"\nВариантов: {images}. Модель может вернуть до {model.max_variants} изображений за раз — "
        "выберите число кнопкой ниже; оплата за каждое изображение, за недополученные деньги вернутся."
    )


BTN_VARIANT_EDIT = "✏️"
BTN_VARIANT_UPSCALE = "🔍"


def variants_buttons(count: int) -> str:
    return (
        f"🖼 {count} {_variants_word(count)} выше. "
        "Кнопки с номером изображения: ✏️ — редактировать, 🔍 — Upscale."
    )


def format_button(model: ModelSpec, fmt: ImageFormat) -> str:
    """A model priced by resolution shows each button's price (a marketplace preset names no tier)."""
    if not model.resolutions:
        return f"{fmt.title} {fmt.size_label}"
    tier = f" · {fmt.resolution}" if fmt.resolution else ""
    return f"{fmt.title}{tier} {fmt.size_label} · {format_rub(model.format_price(fmt))}"


def retouch_button(title: str, price: int) -> str:
    return f"{title} · {format_rub(price)}"


# ── commands (setMyCommands) ─────────────────────────────────────────────────────────────────────
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Запуск бота и инструкция"),
    ("menu", "Главное меню"),
    ("balance", "Баланс"),
    ("history", "История операций"),
    ("works", "Мои работы: готовые результаты за 30 дней"),
    ("topup", "Пополнить баланс звёздами Telegram"),
    ("promo", "Активировать промокод: /promo <код>"),
    ("paysupport", "Помощь с оплатой"),
    ("status", "Статус задачи: /status <id>"),
    ("ping", "Проверка работы бота"),
    ("delete_me", "Удалить мои данные"),
)
INVITE_COMMAND = ("invite", "Пригласить друга и получить бонус")


def commands(referrals_on: bool) -> tuple[tuple[str, str], ...]:
    """The command menu; /invite only while referral bonuses are paid."""
    return (*COMMANDS, INVITE_COMMAND) if referrals_on else COMMANDS


# ── greeting, menu, info ─────────────────────────────────────────────────────────────────────────
GUIDE = (
    "Что я умею:\n"
    f"{BTN_CREATE} — изображение по описанию (Nano Banana Pro, Nano-banana, Seedream)\n"
    f"{BTN_WRITE} — подробный промпт из пары слов\n"
    f"{BTN_EDIT} — изменить 1–4 изображения по инструкции\n"
    f"{BTN_MERGE} — объединить 2–4 изображения в одну сцену\n"
    f"{BTN_RETOUCH} — деликатная ретушь портрета\n"
    f"{BTN_TEXT} — надпись и эмодзи на изображении\n"
    f"{BTN_FACESWAP} — замена лица на фотографии\n"
    f"{BTN_UPSCALE} — увеличение разрешения ×2\n\n"
    "Можно просто написать промпт — я предложу создать по нему изображение.\n"
    "Расширенный формат: <code>Изображение &lt;промпт&gt; | model=nano | size=1024x1024 | "
    "aspect_ratio=1:1 | negative=…</code>\n\n"
    f"{BTN_WORKS} — ваши результаты за последние 30 дней: оригинал, повтор, правка.\n"
    f"{BTN_BALANCE} — баланс и история операций. Цена операции видна до запуска, "
    "деньги списываются только за успешный результат."
)
START = "👋 Привет! Я MediaLab — бот для генерации и обработки изображений.\n\n" + GUIDE
MENU = "Главное меню. Выберите режим или напишите промпт."
INFO = "ℹ️ Текущий режим сброшен.\n\n" + GUIDE
PONG = "🏓 Понг! Бот работает."
CANCELLED = "Отменено. Выберите режим в главном меню."

# ── stale or foreign buttons ─────────────────────────────────────────────────────────────────────
STALE_BUTTON = "Эта кнопка устарела. Откройте режим заново из меню."
TOO_FAST = "⏳ Слишком много сообщений подряд. Подождите немного и повторите."
FOREIGN_BUTTON = "Эта кнопка не ваша."
RESULT_GONE = "Этот результат больше недоступен."
REPHRASE_GONE = "Этот запрос больше недоступен: выберите режим в меню и напишите промпт заново."

# ── M1 create ────────────────────────────────────────────────────────────────────────────────────
CREATE_CHOOSE_MODEL = "🎨 Создать изображение. Выберите модель:"
DRAFT_CHOOSE_MODEL = "🎨 Создам изображение по вашему промпту. Выберите модель:"


def choose_format(model: ModelSpec, images: int = 1) -> str:
    ask = (
        "Выберите формат и разрешение:"
        if any(fmt.resolution for fmt in model.formats)
        else "Выберите формат:"
    )
    per_image = " за изображение" if model.variant_choices else ""
    price = f"{_model_price(model)}{per_image}"
    return f"Модель: {quote(model.title)} · {price}{variants_note(model, images)}\n{ask}"


def choice_summary(model: ModelSpec, fmt: ImageFormat, images: int = 1) -> str:
    tier = f" · {fmt.resolution}" if fmt.resolution else ""
    return (
        f"Модель: {quote(model.title)} · {priced_images(model.format_price(fmt), images)}\n"
        f"Формат: {fmt.title}{tier} {fmt.size_label}"
    )


def enter_prompt(model: ModelSpec, images: int = 1) -> str:
    note = "\nПромпт будет автоматически переведён на английский." if model.wants_english else ""
    return (
        f"Модель: {quote(model.title)} · {priced_images(model.price, images)}\n"
        f"Напишите промпт — что должно быть на изображении.{note}"
    )


PROMPT_EMPTY = "Промпт пустой. Напишите, что должно быть на изображении."


def prompt_too_long(limit: int) -> str:
    return f"Промпт слишком длинный: не больше {limit} символов."


# ── extended form ────────────────────────────────────────────────────────────────────────────────
def extended_unknown_key(key: str, accepted: Iterable[str]) -> str:
    return (
        f"Неизвестный параметр «{quote(key)}». Допустимые параметры: {quote(', '.join(accepted))}.\n"
        "Пример: <code>Изображение кот в шляпе | model=nano | size=1024x1024</code>"
    )


def extended_unknown_model(name: str, accepted: Iterable[str]) -> str:
    return f"Неизвестная модель «{quote(name)}». Доступные модели: {quote(', '.join(accepted))}."


def extended_bad_size(value: str) -> str:
    return (
        f"Неверный размер «{quote(value)}». Укажите ширину и высоту от 64 до 8192 пикселей, "
        "например <code>size=1024x1024</code>."
    )


def extended_bad_ratio(value: str) -> str:
    return f"Неверное соотношение сторон «{quote(value)}». Пример: <code>aspect_ratio=16:9</code>."


def extended_no_negative(model_title: str) -> str:
    return (
        f"Модель {quote(model_title)} не поддерживает <code>negative=</code>: "
        "она не читает негативный промпт. Уберите <code>negative=…</code> и опишите желаемое в самом промпте."
    )


def extended_bad_part(part: str) -> str:
    return f"Не понимаю часть «{quote(part)}». Параметры пишутся как <code>ключ=значение</code> через «|»."


def extended_duplicate(key: str) -> str:
    return f"Параметр «{quote(key)}» указан дважды."


# ── M2 write ─────────────────────────────────────────────────────────────────────────────────────
def write_ask(price: int) -> str:
    return (
        "✍️ Опишите желаемое изображение простыми словами (например: «красивая девушка на пляже»).\n"
        f"Я напишу подробный промпт. Стоимость: {format_rub(price)}."
    )


WRITE_RESULT_HEADER = "✍️ Готовый промпт:"
WRITE_RESULT_FOOTER = "Нажмите «🎨 Создать по этому промпту», чтобы создать изображение."

# ── M3 edit / M8 merge ───────────────────────────────────────────────────────────────────────────
EDIT_CHOOSE_MODEL = (
    "✏️ Изменить изображение. Выберите модель:\n"
    "Nano Banana Pro и Nano-Banana понимают русский; для Seedream промпт переводится автоматически."
)
EDIT_PRELOADED_CHOOSE_MODEL = "✏️ Редактирую этот результат. Выберите модель:"
MERGE_CHOOSE_MODEL = "🔗 Объединить изображения в одну сцену. Выберите модель:"


def send_images(mode: Mode, model: ModelSpec, have: int, max_images: int) -> str:
    price = format_rub(model.price)
    if mode is Mode.merge:
        head = f"Модель: {quote(model.title)} · {price}\nОтправьте от 2 до {max_images} изображений"
    else:
        head = f"Модель: {quote(model.title)} · {price}\nОтправьте от 1 до {max_images} изображений"
    tail = " (фото, файлом или альбомом), затем опишите, что изменить."
    already = f"\nУже загружено: {have}." if have else ""
    return head + tail + already


def images_received(total: int, max_images: int) -> str:
    return (
        f"Изображений загружено: {total} из {max_images}. "
        "Отправьте ещё или опишите, что нужно сделать (например: «объедини в одну сцену»)."
    )


def too_many_images(max_images: int) -> str:
    return (
        f"Можно не больше {max_images} изображений. Эти не добавлены; опишите изменения или отправьте /menu."
    )


NEED_IMAGE_FIRST = "Сначала отправьте изображение (фото или файлом)."


def need_more_images(minimum: int, have: int) -> str:
    return f"Для объединения нужно минимум {minimum} изображения, сейчас {have}. Отправьте ещё."


# ── M4 retouch ───────────────────────────────────────────────────────────────────────────────────
def retouch_send(max_mb: int) -> str:
    return f"✨ Ретушь. Отправьте фото лица (как фото или файлом, до {max_mb} МБ)."


RETOUCH_CHOOSE_KIND = (
    "Выберите режим:\n"
    "• Мягкая ретушь — убирает мелкие дефекты, выравнивает тон, сохраняет текстуру кожи\n"
    "• Усилить черты — чёткость черт и кожи, чуть ярче глаза; возраст, губы и пропорции не меняются"
)


def retouch_instruction(price: int) -> str:
    return (
        "Можно добавить инструкцию (например: «убери прыщи на лбу») или нажмите «Пропустить».\n"
        f"Стоимость: {format_rub(price)}."
    )


RETOUCH_SKIPPED = "Без дополнительной инструкции."


def retouch_no_instruction(price: int) -> str:
    return f"Мягкая ретушь работает без инструкций: запускаю. Стоимость: {format_rub(price)}."


# ── M5 add text ──────────────────────────────────────────────────────────────────────────────────
def text_send_image(price: int, max_bytes: int) -> str:
    return (
        f"📝 Добавить текст. Отправьте изображение (PNG/JPEG, до {max_bytes // (1024 * 1024)} МБ). "
        f"Стоимость: {format_rub(price)}."
    )


TEXT_ENTER = (
    "Введите текст для изображения (можно в несколько строк и с эмодзи).\n"
    "Для карточки маркетплейса сначала выберите формат ниже: фото будет обрезано по центру до его размера."
)


def text_format_chosen(fmt: ImageFormat) -> str:
    return (
        f"Формат: {fmt.title} {fmt.size_label} — фото будет обрезано по центру до этого размера.\n"
        "Введите текст для изображения (можно в несколько строк и с эмодзи)."
    )


TEXT_STYLE = (
    "Опишите оформление, например: «Крупный белый текст в центре, на чёрной плашке», "
    "«Текст размером 72px снизу, расстояние от низа 10%», «без плашки».\n"
    "Или отправьте /skip для настроек по умолчанию."
)


# ── M6 face swap ─────────────────────────────────────────────────────────────────────────────────
def faceswap_send_face(price: int) -> str:
    return f"🔄 Заменить лицо. Отправьте портрет с лицом (источник). Стоимость: {format_rub(price)}."


FACESWAP_SEND_TARGET = "Теперь отправьте фото, на котором нужно заменить лицо."


# ── M7 upscale ───────────────────────────────────────────────────────────────────────────────────
def upscale_send(price: int) -> str:
    return (
        f"⬆️ Улучшить. Отправьте изображение (как фото или файлом), увеличу его в 2 раза. "
        f"Стоимость: {format_rub(price)}."
    )


# ── images ───────────────────────────────────────────────────────────────────────────────────────
DOWNLOAD_FAILED = "Не удалось получить файл у Telegram. Отправьте фото ещё раз."


def album_part_refused(index: int, total: int, problem: str) -> str:
    return (
        f"Фото {index + 1} из {total} в альбоме не принято. {problem}\n"
        "Альбом не сохранён: отправьте его снова, заменив или убрав это фото."
    )


EXPECTED_IMAGE = "Жду изображение: отправьте фото или файл-изображение (JPEG, PNG, WEBP)."
EXPECTED_BUTTON = "Выберите вариант кнопкой в сообщении выше или вернитесь в /menu."
EXPECTED_TEXT = "Жду текст. Напишите сообщение или вернитесь в /menu."
NOT_AN_IMAGE = "Это не изображение. Отправьте фото или файл в формате JPEG, PNG или WEBP."
BAD_IMAGE = (
    "Не удалось прочитать изображение: файл повреждён или формат не поддерживается "
    "(нужен JPEG, PNG или WEBP)."
)
ONE_IMAGE_ONLY = "Здесь нужно одно изображение, а не альбом. Отправьте одно фото."


def image_too_large(limit_bytes: int) -> str:
    return (
        f"Файл слишком большой: максимум {limit_bytes // (1024 * 1024)} МБ. Уменьшите его и отправьте снова."
    )


def image_too_small(min_side: int) -> str:
    return (
        f"Изображение слишком маленькое для модели: нужно не меньше {min_side} px по каждой стороне. "
        "Отправьте изображение побольше."
    )


def image_aspect_unsupported(max_aspect: float) -> str:
    return (
        f"Изображение слишком вытянутое для модели: одна сторона может быть длиннее другой не больше чем "
        f"в {max_aspect:g} раза. Обрежьте его или выберите другую модель."
    )


def input_downscaled(width: int, height: int, model: ModelSpec) -> str:
    limits = []
    if model.max_input_side is not None:
        limits.append(f"до {model.max_input_side} px по стороне")
    if model.max_input_pixels is not None:
        limits.append(f"до {model.max_input_pixels / 1_000_000:g} МП")
    return f"Изображение уменьшено до {width}×{height}: {quote(model.title)} принимает {' и '.join(limits)}."


IMAGE_TOO_MANY_PIXELS = "Изображение слишком большое по разрешению. Уменьшите его и отправьте снова."
ANIMATED_IMAGE = "Анимированные изображения не принимаются. Отправьте обычное фото или один кадр (PNG, JPEG)."


def upload_quota_reached(per_hour: int) -> str:
    return (
        f"Лимит загрузок исчерпан: не больше {per_hour} изображений в час. "
        "Подождите немного и отправьте изображение снова."
    )


TOO_MANY_JOBS = (
    "Слишком много задач выполняется одновременно. Дождитесь результата одной из них и запустите снова. "
    "Средства не списаны."
)
UPLOAD_EXPIRED = (
    "Загруженные изображения хранятся только час и уже удалены. Начните заново из /menu и отправьте их снова."
)


def album_too_large(limit_pixels: int, limit_bytes: int) -> str:
    return (
        "Альбом слишком большой: все изображения вместе — не больше "
        f"{limit_pixels / 1_000_000:g} МП и {limit_bytes // (1024 * 1024)} МБ. "
        "Уменьшите изображения или отправьте меньше и попробуйте снова."
    )


# ── jobs ─────────────────────────────────────────────────────────────────────────────────────────
MODE_TITLES: dict[Mode, str] = {
    Mode.create: "Создание",
    Mode.prompt: "Промпт",
    Mode.edit: "Изменение",
    Mode.retouch: "Ретушь",
    Mode.text: "Текст",
    Mode.faceswap: "Замена лица",
    Mode.upscale: "Улучшение",
    Mode.merge: "Объединение",
}

TRANSLATED_NOTE = "🌐 Промпт переведён на английский для этой модели."
TRANSLATE_FAILED = (
    "Не удалось перевести промпт на английский для этой модели. Средства не списаны.\n"
    "Через минуту начните заново: из меню или просто отправьте промпт. "
    "Nano Banana перевод не нужен."
)
STAGES: dict[str, str] = {
    "queued": "в очереди",
    "running": "выполняется",
    "uploading": "загрузка",
    "downloading": "получение результата",
}


def about(seconds: float) -> str:
    """A runner's estimate, rounded up so it reads as one: «примерно 45 с», «примерно 3 мин»."""
    if seconds < 60:
        return f"примерно {max(5, math.ceil(seconds / 5) * 5)} с"
    return f"примерно {math.ceil(seconds / 60)} мин"


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
    cost = f"стоимость {format_rub(price)}" if price else "бесплатно (переформулировка после отказа фильтра)"
    lines = [f"⏳ {MODE_TITLES[mode]}: задача принята, {cost}."]
    if note:
        lines.append(note)
    if stage is not None:
        progress = STAGES.get(stage, stage)
        if queue_position is not None:  # the jobs ahead: 0 is the next one
            progress += f": {queue_position + 1}-й"
        if eta_s is not None:
            progress += f" · {about(eta_s)}"
        if elapsed_s is not None:
            progress += f" · прошло {int(elapsed_s)} с"
        lines.append(f"Статус: {progress}")
    lines.append(f"ID: <code>{job_id}</code>")
    return "\n".join(lines)


def order_price(mode: Mode, model: ModelSpec, price: int) -> str:
    return f"{MODE_TITLES[mode]} · {quote(model.title)}\nСтоимость: {format_rub(price)}."


def confirm_launch(mode: Mode, model: ModelSpec, price: int) -> str:
    return f"{order_price(mode, model, price)} Запустить?"


def insufficient_funds(price: int, available: int) -> str:
    return (
        f"Недостаточно средств: стоимость {format_rub(price)}, доступно {format_rub(available)}.\n"
        f"Не хватает {format_rub(price - max(available, 0))}: пополните баланс кнопкой ниже на эту сумму "
        "или больше (баланс и история — «💰 Баланс») и начните заново из меню. Задача не запущена."
    )


# Each names the cause, then the user's next step (the job_failed text adds that nothing was charged).
FAILURE_REASONS: dict[FailureReason, str] = {
    FailureReason.not_an_image: "файл не является изображением — отправьте фото в JPEG или PNG",
    FailureReason.bad_image: "изображение повреждено или в неподдерживаемом формате — пересохраните его в "
    "JPEG или PNG и отправьте снова",
    FailureReason.image_too_large: "изображение слишком большое для модели — уменьшите его и отправьте снова",
    FailureReason.bad_input: "запрос не подходит модели — измените промпт или выберите другую модель",
    FailureReason.provider_rejected: "модель отклонила запрос — попробуйте изменить промпт или изображение",
    FailureReason.moderation: "запрос отклонён фильтром безопасности модели — переформулируйте промпт",
    FailureReason.no_face: "на изображении не найдено лицо — отправьте фото, где лицо видно крупно и анфас",
    FailureReason.provider_error: "сервис генерации вернул ошибку — попробуйте ещё раз через минуту",
    FailureReason.provider_unavailable: "модель временно недоступна — попробуйте другую",
    FailureReason.provider_busy: "сервис генерации перегружен и не принял задачу — попробуйте через минуту",
    FailureReason.timeout: "задача не успела выполниться вовремя — попробуйте ещё раз через минуту",
    FailureReason.dead_letter: "задачу не удалось выполнить после нескольких попыток — попробуйте позже",
    FailureReason.cancelled: "задача отменена — запустите её заново из меню",
    FailureReason.internal: "внутренняя ошибка бота — попробуйте ещё раз; если повторится, "
    "пришлите /status с ID задачи",
}


def rephrase_ask(previous: str) -> str:
    return (
        f"Прежний промпт:\n<code>{quote(previous)}</code>\n\n"
        "Напишите новый: уберите или замените то, что мог отклонить фильтр безопасности модели. "
        "Эта попытка бесплатна."
    )


def job_failed(mode: Mode, reason: FailureReason, job_id: str) -> str:
    if reason is FailureReason.cancelled:
        return job_cancelled(mode, job_id)
    return (
        f"❌ {MODE_TITLES[mode]}: не получилось — {FAILURE_REASONS[reason]}.\n"
        f"Средства не списаны.\nID: <code>{job_id}</code>"
    )


BTN_CANCEL_JOB = "❌ Отменить"
JOB_CANCEL_REQUESTED = (
    "⏳ Задача уже у провайдера: просим её остановить. Если он остановит, средства не спишутся; "
    "если результат успеет появиться, он придёт и будет оплачен."
)
JOB_CANCEL_TOO_LATE = "Задача уже завершилась: отменять нечего."


def job_cancelled(mode: Mode, job_id: str) -> str:
    return (
        f"❌ {MODE_TITLES[mode]}: задача отменена.\nСредства не списаны. "
        f"Запустите её заново из меню, когда захотите.\nID: <code>{job_id}</code>"
    )


def result_caption(mode: Mode, index: int, total: int, fitted: FittedResult, limit_mb: int) -> str:
    suffix = f" ({index + 1}/{total})" if total > 1 else ""
    caption = f"✅ {MODE_TITLES[mode]}: готово{suffix}."
    if fitted.fit is Fit.jpeg:
        caption += f"\nPNG больше {limit_mb} МБ (лимит Telegram), поэтому файл — JPEG высокого качества."
    elif fitted.fit is Fit.downscaled:
        caption += (
            f"\nPNG больше {limit_mb} МБ (лимит Telegram), поэтому файл — JPEG, "
            f"уменьшенный до {fitted.width}×{fitted.height}."
        )
    return caption


def _undeliverable_cause(cause: Undeliverable, limit_mb: int) -> str:
    if cause is Undeliverable.missing:
        return "файл результата пропал из хранилища"
    if cause is Undeliverable.unreadable:
        return "модель вернула повреждённый файл"
    return f"файл не помещается в лимит Telegram ({limit_mb} МБ) даже после сжатия"


def result_undeliverable(mode: Mode, cause: Undeliverable, job_id: str, limit_mb: int) -> str:
    return (
        f"❌ {MODE_TITLES[mode]}: результат не удалось отправить — {_undeliverable_cause(cause, limit_mb)}.\n"
        f"Средства возвращены на баланс. Запустите задачу ещё раз.\nID: <code>{job_id}</code>"
    )


def result_part_undeliverable(index: int, total: int, cause: Undeliverable, limit_mb: int) -> str:
    return (
        f"⚠️ Изображение {index + 1} из {total} не отправлено — {_undeliverable_cause(cause, limit_mb)}. "
        "Остальные отправлены выше; чтобы получить и это, запустите задачу ещё раз."
    )


# ── balance and history ──────────────────────────────────────────────────────────────────────────
def balance(view: BalanceView) -> str:
    return (
        "💰 Баланс\n"
        f"На счёте: {format_rub(view.balance)}\n"
        f"Зарезервировано: {format_rub(view.reserved)}\n"
        f"Доступно: {format_rub(view.available)}"
    )


STATUS_TITLES: dict[OperationStatus, str] = {
    OperationStatus.pending: "⏳ в работе",
    OperationStatus.charged: "✅ списано",
    OperationStatus.failed: "❌ ошибка, не списано",
    OperationStatus.refunded: "↩️ не доставлено, возвращено",
}
HISTORY_EMPTY = "📊 История операций пуста."


def moscow_time(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M") + " (Мск)"


HISTORY_TITLES: dict[HistoryKind, str] = {
    HistoryKind.welcome: "🎁 приветственный бонус",
    HistoryKind.topup: "💳 пополнение",
    HistoryKind.hold: STATUS_TITLES[OperationStatus.pending],
    HistoryKind.charge: STATUS_TITLES[OperationStatus.charged],
    HistoryKind.release: STATUS_TITLES[OperationStatus.failed],
    HistoryKind.refund: STATUS_TITLES[OperationStatus.refunded],
    HistoryKind.partial_refund: "↩️ пришло меньше изображений, возвращено",
    HistoryKind.payment: "⭐ пополнение звёздами",
    HistoryKind.payment_refund: "↩️ возврат звёзд",
    HistoryKind.promo: "🎟 промокод",
    HistoryKind.referral: "🤝 бонус за приглашённого друга",
}
# Payment rows paid through YooKassa (HistoryEntry.method) instead of Stars.
YOOKASSA_HISTORY_TITLES: dict[HistoryKind, str] = {
    HistoryKind.payment: "💳 пополнение картой или СБП",
    HistoryKind.payment_refund: "↩️ возврат через ЮKassa",
}


def _signed(kopecks: int) -> str:
    return format_rub(kopecks) if kopecks < 0 else f"+{format_rub(kopecks)}"


def _history_line(entry: HistoryEntry, model_titles: dict[str, str]) -> str:
    after = f"баланс {format_rub(entry.balance_after)}"
    if entry.mode is None or entry.model_id is None or entry.price is None:
        yookassa = YOOKASSA_HISTORY_TITLES if entry.method == "yookassa" else {}
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
        return HISTORY_EMPTY if page.total == 0 else f"📊 Страница {page.page} пуста."
    lines = [f"📊 История операций — страница {page.page} из {page.pages}"]
    lines.extend(_history_line(entry, model_titles) for entry in page.items)
    return "\n".join(lines)


# ── «🖼 Мои работы» ──────────────────────────────────────────────────────────────────────────────
BTN_WORK_ORIGINAL = "⬇️ Оригинал"
BTN_WORK_REPEAT = "🔁 Повторить"
BTN_WORK_EDIT = "✏️ Изменить"
BTN_WORK_UPSCALE = "🔍 Улучшить"
WORK_GONE = (
    "Эта работа больше не хранится: прошёл срок хранения или данные удалены. Откройте «🖼 Мои работы» заново."
)
WORK_MODEL_GONE = "Модели этой работы больше нет в каталоге: выберите режим в меню и запустите заново."
WORK_PROMPT_EXCERPT = 80


def works_empty(ttl_days: int) -> str:
    return (
        f"🖼 Здесь будут ваши работы: каждый готовый результат хранится {ttl_days} дн. "
        "Выберите режим в меню, чтобы создать первую."
    )


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
    suffix = f" ({part[0] + 1} из {part[1]})" if part is not None else ""
    lines = [
        f"<b>{number}.</b> {MODE_TITLES[mode]}{suffix} · {quote(model_title)} · {moscow_time(created_at)}"
    ]
    if prompt.strip():
        lines.append(f"«{quote(_excerpt(prompt))}»")
    if expired:
        lines.append("⌛ Срок хранения истёк: кнопки этой работы больше не действуют.")
    else:
        lines.append(f"Хранится до {expires_at.astimezone(MOSCOW).strftime('%d.%m.%Y')}")
    return "\n".join(lines)


def works_page(entries: Iterable[str], page: int, pages: int, ttl_days: int) -> str:
    header = f"🖼 Мои работы — страница {page} из {pages}. Результаты хранятся {ttl_days} дн."
    hint = f"{BTN_WORK_ORIGINAL} — бесплатно; {BTN_WORK_REPEAT} — новый вариант по цене режима."
    return "\n\n".join([header, *entries, hint])


def work_original_caption(mode: Mode, created_at: datetime) -> str:
    return f"⬇️ {MODE_TITLES[mode]} от {moscow_time(created_at)}: оригинал."


# ── /status ──────────────────────────────────────────────────────────────────────────────────────
STATUS_USAGE = "Укажите ID задачи: <code>/status &lt;job_id&gt;</code>. ID есть в сообщении о задаче."
STATUS_BAD_ID = "Неверный ID задачи: это 32 символа 0-9 и a-f."
JOB_NOT_FOUND = "Задача не найдена."


def operation_status(op: OperationView, model_title: str) -> str:
    return (
        f"Задача <code>{op.job_id}</code>\n"
        f"{MODE_TITLES[op.mode]} · {quote(model_title)} · {format_rub(op.price)}\n"
        f"Создана: {moscow_time(op.created_at)}\n"
        f"Статус: {STATUS_TITLES[op.status]}"
    )


# ── /add_balance ─────────────────────────────────────────────────────────────────────────────────
NOT_ADMIN = "Команда доступна только администраторам."
TOPUP_USAGE = (
    "Использование: <code>/add_balance &lt;сумма&gt;</code> или "
    "<code>/add_balance &lt;user_id&gt; &lt;сумма&gt;</code>, сумма в рублях, например 500 или 99,50."
)
TOPUP_NOT_POSITIVE = "Сумма должна быть больше нуля."
TOPUP_TOO_LARGE = "Слишком большая сумма."
TOPUP_BAD_AMOUNT = (
    "Не понимаю сумму. Укажите рубли, например 500 или 99,50 (не больше двух знаков после запятой)."
)
TOPUP_BAD_USER = "Неверный user_id: нужно положительное целое число."


def topup_done(reply: TopupReply) -> str:
    return (
        f"✅ Баланс пользователя <code>{reply.target_user_id}</code> "
        f"пополнен на {format_rub(reply.amount)}.\n"
        f"Теперь доступно: {format_rub(reply.balance.available)}."
    )


# ── top-ups with Telegram Stars ──────────────────────────────────────────────────────────────────
TOPUP_CHOOSE = (
    "💳 Пополнение баланса звёздами Telegram\n"
    "Выберите сумму: бот пришлёт счёт, оплатите его кнопкой в счёте. Деньги поступят на баланс сразу. "
    "Другую сумму можно указать сразу: <code>/topup 250</code>."
)
TOPUP_CHOOSE_ANY = (
    "💳 Пополнение баланса\n"
    "Выберите сумму, затем способ оплаты: звёзды Telegram или карта / СБП через ЮKassa. "
    "Деньги поступят на баланс сразу после оплаты."
)
INVOICE_TITLE = "Пополнение баланса"
BTN_TOPUP_OTHER = "✏️ Другая сумма"


def _topup_limits(low_rub: int, high_rub: int) -> str:
    return f"от {format_rub(rubles(low_rub))} до {format_rub(rubles(high_rub))}"


def topup_ask_amount(low_rub: int, high_rub: int) -> str:
    return (
        f"Введите сумму пополнения в рублях — {_topup_limits(low_rub, high_rub)}, например 250. "
        "Отмена — /cancel."
    )


def topup_out_of_limits(low_rub: int, high_rub: int) -> str:
    return (
        f"Пополнить можно на сумму {_topup_limits(low_rub, high_rub)}. "
        "Отправьте другую сумму или откройте «💳 Пополнить» и выберите сумму кнопкой."
    )


TOPUP_UNKNOWN_PACK = "Такую сумму сейчас нельзя оплатить. Откройте «💳 Пополнить» и выберите сумму заново."


def topup_button(rub: int) -> str:
    return f"{rub} ₽"


def topup_missing_button(rub: int) -> str:
    return f"{BTN_TOPUP} на {rub} ₽"


def invoice_description(amount: int) -> str:
    return f"{format_rub(amount)} на баланс MediaLab. Оплата звёздами Telegram."


def invoice_label(amount: int) -> str:
    return f"Пополнение на {format_rub(amount)}"


# Shown by Telegram in the payment window when the pre-checkout answers "no".
CHECKOUT_NOT_PAYABLE = "Этот счёт уже оплачен или устарел. Откройте «💳 Пополнить» и выберите сумму заново."
CHECKOUT_UNAVAILABLE = (
    "Не удалось проверить счёт: сервис временно недоступен. Попробуйте оплатить через минуту."
)


def payment_credited(amount: int, available: int) -> str:
    return f"✅ Баланс пополнен на {format_rub(amount)}.\nДоступно: {format_rub(available)}."


def payment_not_credited(charge_id: str) -> str:
    return (
        "⚠️ Платёж получен, но зачислить его на баланс не удалось. Звёзды не пропадут: отправьте "
        f"/paysupport и сообщите ID платежа <code>{quote(charge_id)}</code>."
    )


PAYSUPPORT = (
    "💳 Помощь с оплатой\n"
    "Пополнение звёздами Telegram зачисляется на баланс сразу после оплаты; история — в /history.\n"
    "Если платёж не зачислен или нужен возврат звёзд, напишите администратору бота и укажите ID платежа "
    "из сообщения о зачислении (или из чека Telegram). Звёзды возвращаются, если пополнение не потрачено."
)
# ── top-ups through YooKassa (card, SBP) ────────────────────────────────────────────────────────
BTN_PAY_STARS = "⭐ Звёздами Telegram"
BTN_PAY_YOOKASSA = "💳 Картой или СБП (ЮKassa)"


def topup_method(rub: int) -> str:
    return f"Пополнение на {rub} ₽. Как оплатить?"


EMAIL_ASK = (
    "📧 Для оплаты картой или СБП нужен e-mail: на него придёт кассовый чек (54-ФЗ). "
    "Пришлите адрес одним сообщением — мы запомним его для следующих пополнений. /cancel — отмена."
)
EMAIL_INVALID = "Это не похоже на e-mail. Пришлите адрес вида name@example.com или /cancel для отмены."


def pay_link_button(amount: int) -> str:
    return f"Оплатить {format_rub(amount)}"


def payment_link(amount: int) -> str:
    return (
        f"💳 Счёт на {format_rub(amount)} готов. Нажмите «Оплатить» и заплатите картой или через СБП "
        "на странице ЮKassa. Баланс пополнится сразу после оплаты, бот напишет об этом."
    )


PAYMENT_LINK_UNAVAILABLE = (
    "Не удалось создать платёж: ЮKassa или наш сервис оплаты сейчас недоступны. Деньги не списаны — "
    "попробуйте через минуту или оплатите звёздами."
)
PAYMENT_LINK_REFUSED = (
    "ЮKassa не приняла платёж (возможно, из-за e-mail для чека). Деньги не списаны — пришлите другой "
    "e-mail через «💳 Пополнить» или оплатите звёздами."
)
REFUND_YOOKASSA_USAGE = "Использование: <code>/refund_yookassa &lt;ID платежа ЮKassa&gt;</code>."
REFUND_YOOKASSA_UNFINISHED = (
    "Возврат не завершён: ЮKassa или сервис оплаты сейчас недоступны. Повторите команду позже — "
    "с баланса спишется и через ЮKassa вернётся ровно один раз."
)


def refund_yookassa_spent(available: int, amount: int) -> str:
    return (
        f"Возврат невозможен: пополнение {format_rub(amount)}, а у пользователя доступно "
        f"{format_rub(available)}. Дождитесь окончания его задач или верните деньги в кабинете ЮKassa."
    )


def refund_yookassa_done(user_id: int, amount: int, debited: bool) -> str:
    again = "" if debited else " (списание было сделано раньше)"
    return (
        f"↩️ Возврат {format_rub(amount)} через ЮKassa пользователю <code>{user_id}</code> оформлен; "
        f"с баланса списано{again}."
    )


REFUND_USAGE = "Использование: <code>/refund_stars &lt;ID платежа&gt;</code> (telegram_payment_charge_id)."
REFUND_UNKNOWN = "Платёж с таким ID не найден."


def refund_spent(available: int, amount: int) -> str:
    return (
        f"Возврат невозможен: пополнение {format_rub(amount)}, а у пользователя доступно "
        f"{format_rub(available)}. Дождитесь окончания его задач или верните звёзды вручную."
    )


def refund_done(user_id: int, amount: int, stars: int, debited: bool) -> str:
    again = "" if debited else " (списание было сделано раньше)"
    return (
        f"↩️ Возвращено {stars} ⭐ пользователю <code>{user_id}</code>; "
        f"с баланса списано {format_rub(amount)}{again}."
    )


def refund_telegram_failed(reason: str) -> str:
    return (
        f"⚠️ Баланс списан, но Telegram не вернул звёзды: {quote(reason)}. "
        "Повторите команду: повтор ничего не спишет дважды."
    )


PAYMENT_REFUNDED = "↩️ Звёзды за пополнение возвращены, сумма списана с баланса."


# ── promo codes ──────────────────────────────────────────────────────────────────────────────────
PROMO_USAGE = "Отправьте промокод после команды, например: <code>/promo SPRING25</code>."
PROMO_UNKNOWN = "Такого промокода нет. Проверьте написание и отправьте <code>/promo КОД</code> ещё раз."
PROMO_EXPIRED = "Срок действия этого промокода истёк. Баланс не изменился."
PROMO_USED_UP = "Этот промокод уже использован максимальное число раз. Баланс не изменился."
PROMO_ALREADY_USED = "Вы уже активировали этот промокод: каждый код действует один раз. Баланс не изменился."


def promo_credited(amount: int, available: int) -> str:
    return f"🎟 Промокод активирован: +{format_rub(amount)}.\nДоступно: {format_rub(available)}."


PROMO_NEW_USAGE = (
    "Использование: <code>/promo_new КОД СУММА [ЧИСЛО_АКТИВАЦИЙ] [ДО_ДАТЫ]</code>, например "
    "<code>/promo_new SPRING25 100 50 31.12.2026</code>: 100 ₽ каждому, 50 активаций всего, "
    "действует по 31.12.2026 включительно (Мск). По умолчанию одна активация и без срока."
)
PROMO_BAD_CODE = "Код — от 3 до 32 символов: латинские буквы, цифры, «_» и «-»."
PROMO_BAD_USES = "Число активаций — целое число от 1 до 1 000 000."
PROMO_BAD_DATE = "Не понимаю дату. Укажите её как 31.12.2026 или 2026-12-31."
PROMO_PAST_DATE = "Эта дата уже прошла: укажите сегодняшнюю или более позднюю."


def _promo_terms(view: PromoView) -> str:
    until = f"до {moscow_time(view.expires_at)}" if view.expires_at else "без срока"
    return (
        f"<code>{quote(view.code)}</code>: {format_rub(view.amount)} каждому, "
        f"активаций {view.uses} из {view.max_uses}, {until}"
    )


def promo_created(view: PromoView) -> str:
    if view.created:
        return f"✅ Промокод создан — {_promo_terms(view)}.\nПользователи вводят: /promo {quote(view.code)}"
    return f"Такой промокод уже есть, его условия не изменены — {_promo_terms(view)}."


def invite(link: str, bonus_rub: int) -> str:
    return (
        f"🤝 Пригласите друга по ссылке:\n{link}\n\n"
        f"Когда он впервые пополнит баланс, вы получите {format_rub(rubles(bonus_rub))}. "
        "Бонус начисляется один раз за каждого нового пользователя."
    )


INVITE_OFF = "Приглашения с бонусом сейчас не действуют."


# ── /stats ───────────────────────────────────────────────────────────────────────────────────────
_STATS_PERIODS = {1: "Сегодня", 7: "7 дней", 30: "30 дней"}
_REVENUE_METHODS = {"stars": "звёзды", "yookassa": "ЮKassa"}
_CREDIT_SOURCES = {
    "promo": "промокоды",
    "referral": "рефералы",
    "welcome": "приветственные",
    "admin": "админ",
}


def _amounts(amounts: dict[str, int], names: dict[str, str]) -> str:
    if not amounts:
        return "0 ₽"
    return ", ".join(f"{names.get(key, key)} {format_rub(value)}" for key, value in sorted(amounts.items()))


def _stats_period(period: StatsPeriod) -> str:
    jobs = ", ".join(f"{MODE_TITLES[mode]} {count}" for mode, count in sorted(period.jobs.items()))
    title = _STATS_PERIODS.get(period.days, f"{period.days} дн.")
    return (
        f"<b>{title}</b> (с {moscow_time(period.since)})\n"
        f"Пользователи: новых {period.new_users}, активных {period.active_users}, "
        f"заплатили {period.paid_users}\n"
        f"Задачи: {sum(period.jobs.values())}" + (f" ({jobs})" if jobs else "") + "\n"
        f"Выручка: {format_rub(period.total_revenue)} ({_amounts(period.revenue, _REVENUE_METHODS)})\n"
        f"Начисления не за деньги: {_amounts(period.credits, _CREDIT_SOURCES)}\n"
        f"Списано за задачи: {format_rub(period.charged)}\n"
        f"Себестоимость (прайс провайдеров): {format_rub(period.provider_cost)}\n"
        f"Маржа: выручка − себестоимость {format_rub(period.margin)}; "
        f"задачи − себестоимость {format_rub(period.jobs_margin)}"
    )


def stats(reply: StatsReply) -> str:
    return "📈 Статистика\n\n" + "\n\n".join(_stats_period(period) for period in reply.periods)


# ── generic errors and fallbacks ─────────────────────────────────────────────────────────────────
SERVICE_UNAVAILABLE = (
    "⚠️ Сервис временно недоступен. Средства не списаны. Через минуту начните заново из меню."
)
UNKNOWN_USER = "Не удалось найти ваш счёт. Отправьте /start и попробуйте снова."
INTERNAL_ERROR = "⚠️ Что-то пошло не так. Средства не списаны. Начните заново из меню."
REQUEST_REFUSED = "⚠️ Сервис не принял запрос. Начните заново из меню. Средства не списаны."
BAD_AMOUNT = "Неверная сумма."
UNKNOWN_MESSAGE = "Я понимаю текст, фото и файлы-изображения. Выберите режим в меню или напишите промпт."
UNSUPPORTED_AT_MENU = (
    "Чтобы обработать изображение, сначала выберите режим в меню: например, «✏️ Изменить» или «⬆️ Улучшить»."
)


# ── /delete_me ───────────────────────────────────────────────────────────────────────────────────
DELETE_ME_ASK = (
    "🗑 Удалить ваши данные?\n\n"
    "Будут удалены ваши фото, результаты, черновики и промпты. В истории операций останутся только "
    "суммы: баланс не изменится. Отменить удаление нельзя."
)
DELETE_ME_DONE = (
    "✅ Ваши фото, результаты, черновики и промпты удалены, баланс сохранён. "
    "Сообщения в этом чате удалите в Telegram, если нужно. Меню работает как прежде."
)
DELETE_ME_CANCELLED = "Удаление отменено, ваши данные на месте."
DELETE_ME_BUSY = "⏳ Сейчас выполняется ваша задача. Дождитесь результата и повторите /delete_me."
DELETE_ME_FAILED = (
    "⚠️ Не удалось удалить данные: сервис временно недоступен. "
    "Повторите /delete_me через минуту — удалённое уже не вернётся, остальное удалится."
)


# ----- typed errors → replies (the errors router and album parts answer with these) -----------------
_TOPUP_TEXTS = {
    TopupProblem.usage: TOPUP_USAGE,
    TopupProblem.not_positive: TOPUP_NOT_POSITIVE,
    TopupProblem.too_large: TOPUP_TOO_LARGE,
    TopupProblem.bad_amount: TOPUP_BAD_AMOUNT,
    TopupProblem.bad_user: TOPUP_BAD_USER,
}
_PROMO_TEXTS = {
    PromoProblem.usage: PROMO_NEW_USAGE,
    PromoProblem.bad_code: PROMO_BAD_CODE,
    PromoProblem.bad_uses: PROMO_BAD_USES,
    PromoProblem.bad_date: PROMO_BAD_DATE,
    PromoProblem.past_date: PROMO_PAST_DATE,
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
            return NOT_AN_IMAGE
        case BadImage():
            return BAD_IMAGE
        case DownloadFailed():
            return DOWNLOAD_FAILED
        case ImageTooLarge():
            return image_too_large(error.limit_bytes)
        case TooManyPixels():
            return IMAGE_TOO_MANY_PIXELS
        case AnimatedImage():
            return ANIMATED_IMAGE
        case AlbumTooLarge():
            return album_too_large(error.limit_pixels, error.limit_bytes)
        case UploadQuotaReached():
            return upload_quota_reached(error.per_hour)
        case UploadExpired():
            return UPLOAD_EXPIRED
        case ImageTooSmall():
            return image_too_small(error.min_side)
        case ImageAspectUnsupported():
            return image_aspect_unsupported(error.max_aspect)
        case TooManyImages():
            return too_many_images(error.max_images)
        case NotEnoughImages() if error.have == 0:
            return NEED_IMAGE_FIRST
        case NotEnoughImages():
            return need_more_images(error.minimum, error.have)
        case AlbumNotAllowed():
            return ONE_IMAGE_ONLY
        case EmptyPrompt():
            return PROMPT_EMPTY
        case PromptTooLong():
            return prompt_too_long(error.limit)
        case ExtendedFormError():
            return _describe_form(error)
        case TopupArgsError():
            return _TOPUP_TEXTS[error.problem]
        case TopupOutOfLimits():
            return topup_out_of_limits(error.low_rub, error.high_rub)
        case PromoArgsError():
            return _PROMO_TEXTS[error.problem]
        case StatusArgsError():
            return STATUS_USAGE if error.missing else STATUS_BAD_ID
    return INTERNAL_ERROR


_SERVICE_TEXTS: tuple[tuple[type[MediaLabError], str], ...] = (
    (NotAdmin, NOT_ADMIN),
    (TooManyJobs, TOO_MANY_JOBS),
    (UnknownJob, JOB_NOT_FOUND),
    (UnknownUser, UNKNOWN_USER),
    (BadAmount, BAD_AMOUNT),
    (BadRequest, REQUEST_REFUSED),
)


def describe_service_error(error: MediaLabError) -> str:
    for kind, text in _SERVICE_TEXTS:
        if isinstance(error, kind):
            return text
    return SERVICE_UNAVAILABLE
