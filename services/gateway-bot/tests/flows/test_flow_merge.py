"""M8 🔗 Объединить: 2–4 images (an album answered once) and the instruction, on M3's steps."""

from __future__ import annotations

import asyncio

from gateway_bot import texts
from gateway_bot.states import EditFlow
from medialab_contracts.catalog import DEFAULT_EDIT_SIZE, default_catalog
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons

CATALOG = default_catalog()


async def test_an_album_with_a_caption_is_one_merge(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_MERGE)
    assert chat.last().text == texts.MERGE_CHOOSE_MODEL
    await chat.press(buttons(chat.last().reply_markup)["Nano-Banana · 8 ₽"])
    assert chat.step().text == texts.send_images(
        Mode.merge, CATALOG.by_key("nbe"), 0, 4
    ) + texts.variants_note(CATALOG.by_key("nbe"), 1)
    assert "Отправьте от 2 до 4 изображений" in chat.step().text

    # Telegram delivers an album's parts together: each is announced before any is filled.
    parts = [
        chat.photo_update(640, 480, album="alb1", caption="посади их за один стол"),
        chat.photo_update(800, 800, album="alb1"),
        chat.photo_update(480, 640, album="alb1"),
    ]
    chat.intake.hold(len(parts))
    await asyncio.gather(*(chat.feed(part) for part in parts))

    (order,) = launcher.orders
    assert order.size is not None
    assert (order.mode, order.model.key, order.prompt, order.price) == (
        Mode.merge,
        "nbe",
        "посади их за один стол",
        800,
    )
    assert (order.size.width, order.size.height) == DEFAULT_EDIT_SIZE
    assert [(ref.width, ref.height) for ref in order.inputs] == [(640, 480), (800, 800), (480, 640)]
    assert chat.session.sent_texts() == [texts.MERGE_CHOOSE_MODEL]  # nothing else said: the job runs
    assert await chat.state() is None


async def test_one_image_is_not_enough_to_merge(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_MERGE)
    await chat.press(buttons(chat.last().reply_markup)["Seedream · 8 ₽"])
    await chat.photo(caption="объедини")
    assert chat.last().text == texts.need_more_images(2, 1)
    assert launcher.orders == []

    await chat.photo(1200, 900)
    await chat.send("объедини в одну сцену")
    (order,) = launcher.orders
    assert (order.mode, order.model.key, len(order.inputs), order.price) == (Mode.merge, "sde", 2, 800)
    assert await chat.state() is None


async def test_more_than_four_images_are_refused(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_MERGE)
    await chat.press(buttons(chat.last().reply_markup)["Nano-Banana · 8 ₽"])
    for _ in range(4):
        await chat.photo()
    await chat.photo()
    assert chat.last().text == texts.too_many_images(4)
    assert await chat.state() == EditFlow.images.state
    await chat.send("объедини")
    (order,) = launcher.orders
    assert len(order.inputs) == 4
