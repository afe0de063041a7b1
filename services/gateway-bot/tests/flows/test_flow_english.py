"""A user whose Telegram is in English sees every screen of every mode in English, buttons included;
/language switches to Russian and back, and the menu's buttons work in the language they were shown in."""

from __future__ import annotations

import re

from aiogram.methods import SendMessage
from aiogram.types import ReplyKeyboardMarkup
from gateway_bot import texts
from gateway_bot.callbacks import LanguageCb
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons

CYRILLIC = re.compile("[А-Яа-яЁё]")


def russian_in(chat: Conversation, since: int = 0) -> list[str]:
    """Everything the bot sent since request ``since`` (texts, captions, buttons, alerts) that has Russian."""
    return [repr(method) for method in chat.session.requests[since:] if CYRILLIC.search(repr(method))]


def menu_labels(message: SendMessage) -> list[str]:
    assert isinstance(message.reply_markup, ReplyKeyboardMarkup)
    return [button.text for row in message.reply_markup.keyboard for button in row]


# Each test stays within the inbound throttle's burst (30 updates).
async def test_modes_one_to_four_speak_english(
    english_chat: Conversation, launcher: RecordingLauncher
) -> None:
    chat = english_chat
    await chat.send("/start")
    assert chat.last().text is not None and chat.last().text.startswith("👋 Hi! I'm MediaLab")
    assert menu_labels(chat.last())[:2] == ["🎨 Create", "✍️ Write"]

    await chat.send("🎨 Create")  # M1: model → format → prompt
    assert chat.last().text == "🎨 Create an image. Choose a model:"
    await chat.press(buttons(chat.last().reply_markup)["Nano Banana Pro · from 24 ₽"])
    assert chat.step().text == "Model: Nano Banana Pro · from 24 ₽\nChoose a format and resolution:"
    await chat.press(buttons(chat.step().reply_markup)["Landscape 4:3 · 4K 4800×3584 · 48 ₽"])
    await chat.send("a lighthouse in the fog")

    await chat.send("✍️ Write")  # M2
    await chat.send("a cat on a windowsill")

    await chat.send("✏️ Edit")  # M3
    await chat.press(buttons(chat.last().reply_markup)["Nano-Banana · 8 ₽"])
    await chat.photo()
    await chat.send("make it winter")

    await chat.send("🔗 Merge")  # M8
    await chat.press(buttons(chat.last().reply_markup)["Nano-Banana · 8 ₽"])
    await chat.photo()
    await chat.photo(800, 800)
    await chat.send("seat them at one table")

    await chat.send("✨ Retouch")  # M4
    await chat.photo(900, 1200)
    await chat.press(buttons(chat.last().reply_markup)["Enhance features · 8 ₽"])
    await chat.send("remove the spots on the forehead")

    assert [order.mode for order in launcher.orders] == [
        Mode.create,
        Mode.prompt,
        Mode.edit,
        Mode.merge,
        Mode.retouch,
    ]
    assert russian_in(chat) == []


async def test_modes_five_to_seven_speak_english(
    english_chat: Conversation, launcher: RecordingLauncher
) -> None:
    chat = english_chat
    await chat.send("📝 Add text")  # M5
    await chat.photo(1600, 1200)
    await chat.send("Hello 👋")
    await chat.send("Large white text at the bottom")

    await chat.send("🔄 Swap face")  # M6
    await chat.photo(600, 800)
    await chat.document("image/png", "group.png", 1920, 1080)

    await chat.send("⬆️ Upscale")  # M7
    await chat.document("image/webp", "small.webp", 512, 512)

    assert [order.mode for order in launcher.orders] == [Mode.text, Mode.faceswap, Mode.upscale]
    assert russian_in(chat) == []


async def test_menu_screens_speak_english(english_chat: Conversation) -> None:
    chat = english_chat
    await chat.send("Image a fox | model=flux | size=1024x768")  # the extended form, under its price
    assert chat.last().text == "Create · FLUX.1 [dev]\nPrice: 8 ₽. Start?"
    await chat.press(buttons(chat.last().reply_markup)["❌ Cancel"])
    await chat.send("a red fox in the snow")  # a prompt at the menu
    assert chat.last().text == "🎨 I'll create an image from your prompt. Choose a model:"
    for screen in ("💰 Balance", "💳 Top up", "🖼 My works", "ℹ️ Info", "/menu", "/ping"):
        await chat.send(screen)
    await chat.photo()  # an image at the menu, with no mode
    with texts.use_locale("en"):
        assert chat.last().text == texts.UNSUPPORTED_AT_MENU

    assert russian_in(chat) == []


async def test_language_switches_both_ways(english_chat: Conversation) -> None:
    chat = english_chat
    await chat.send("/language")
    assert chat.last().text == "🌐 Choose the bot's language:"
    assert list(buttons(chat.last().reply_markup)) == ["🇷🇺 Русский", "🇬🇧 English"]

    await chat.press(LanguageCb(locale="ru").pack())
    assert chat.last().text == "🌐 Язык бота — русский. Главное меню ниже."
    assert menu_labels(chat.last())[:2] == ["🎨 Создать", "✍️ Написать"]
    await chat.send("🎨 Создать")
    assert chat.last().text == "🎨 Создать изображение. Выберите модель:"
    await chat.send("🖼 My works")  # a button of the English keyboard still there: answered in Russian
    assert chat.last().text is not None and chat.last().text.startswith("🖼 Здесь будут ваши работы")

    await chat.send("/language")
    await chat.press(LanguageCb(locale="en").pack())
    assert chat.last().text == "🌐 The bot now speaks English. The main menu is below."
    since = len(chat.session.requests)
    await chat.send("🎨 Create")
    assert chat.last().text == "🎨 Create an image. Choose a model:"
    assert russian_in(chat, since) == []


async def test_a_forged_language_is_refused(english_chat: Conversation) -> None:
    await english_chat.press(LanguageCb(locale="de").pack())
    assert english_chat.session.sent() == []
