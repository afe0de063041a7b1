"""M5 📝 Добавить текст: an image → the text → a style wish or /skip; drawn locally for 1 ₽."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.states import TextFlow
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons

MB = 1024 * 1024
PRESETS = ["Wildberries 3:4 900×1200", "Ozon 3:4 1200×1600", "Яндекс Маркет 1:1 1200×1200"]


async def open_with_text(chat: Conversation, overlay: str) -> None:
    await chat.send(texts.BTN_TEXT)
    assert chat.last().text == texts.text_send_image(100, 10 * MB)
    assert "Стоимость: 1 ₽." in chat.last().text
    await chat.photo(1600, 1200)
    assert chat.last().text == texts.TEXT_ENTER
    assert list(buttons(chat.last().reply_markup)) == [*PRESETS, texts.BTN_CANCEL]
    await chat.send(overlay)
    assert chat.last().text == texts.TEXT_STYLE
    assert await chat.state() == TextFlow.style.state


async def test_text_with_the_default_style(chat: Conversation, launcher: RecordingLauncher) -> None:
    await open_with_text(chat, "С днём рождения!\nТвой кот 🎉")
    await chat.send("/skip")
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.overlay_text, order.style_wish, order.price) == (
        Mode.text,
        "txt",
        "С днём рождения!\nТвой кот 🎉",
        None,
        100,
    )
    assert [(ref.width, ref.height) for ref in order.inputs] == [(1600, 1200)]
    assert await chat.state() is None


async def test_text_on_a_marketplace_card(chat: Conversation, launcher: RecordingLauncher) -> None:
    """The preset is optional and comes before the text: the order carries the card's pixels."""
    await chat.send(texts.BTN_TEXT)
    await chat.photo(1600, 1200)
    await chat.press(buttons(chat.last().reply_markup)["Wildberries 3:4 900×1200"])
    step = chat.step()
    assert step.text.startswith("Формат: Wildberries 3:4 900×1200 — фото будет обрезано по центру")
    assert list(buttons(step.reply_markup)) == [texts.BTN_CANCEL]
    assert await chat.state() == TextFlow.text.state
    await chat.send("Новинка")
    await chat.send("/skip")
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.size.width, order.size.height, order.price) == (900, 1200, 100)


async def test_text_without_a_preset_keeps_the_picture_size(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await open_with_text(chat, "SALE")
    await chat.send("/skip")
    (order,) = launcher.orders
    assert order.size is None


async def test_text_with_a_style_wish(chat: Conversation, launcher: RecordingLauncher) -> None:
    await open_with_text(chat, "SALE")
    await chat.send("Крупный белый текст снизу, без плашки")
    (order,) = launcher.orders
    assert (order.overlay_text, order.style_wish) == ("SALE", "Крупный белый текст снизу, без плашки")


async def test_an_image_over_the_pixel_limit_is_refused(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send(texts.BTN_TEXT)
    await chat.photo(8000, 6000)  # 48 MP, over text-render's 40 MP
    assert chat.last().text == texts.IMAGE_TOO_MANY_PIXELS
    assert await chat.state() == TextFlow.image.state
    assert launcher.orders == []
