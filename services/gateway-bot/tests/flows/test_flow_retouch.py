"""M4 ✨ Ретушь: a face photo (≤ 10 MB) → soft retouch or enhance → an instruction or «Пропустить»."""

from __future__ import annotations

from gateway_bot import prompts, texts
from gateway_bot.states import RetouchFlow
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons

MB = 1024 * 1024


async def open_with_a_photo(chat: Conversation) -> dict[str, str]:
    await chat.send(texts.BTN_RETOUCH)
    assert chat.last().text == texts.retouch_send(10)
    await chat.photo(900, 1200)
    assert chat.last().text == texts.RETOUCH_CHOOSE_KIND
    kinds = buttons(chat.last().reply_markup)
    assert list(kinds) == ["Мягкая ретушь · 8 ₽", "Усилить черты · 8 ₽", texts.BTN_CANCEL]
    return kinds


async def test_soft_retouch_takes_no_instruction(chat: Conversation, launcher: RecordingLauncher) -> None:
    kinds = await open_with_a_photo(chat)
    await chat.press(kinds["Мягкая ретушь · 8 ₽"])
    assert chat.step().text == texts.retouch_no_instruction(800)
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.prompt, order.fixed_prompt, order.price) == (
        Mode.retouch,
        "ret",
        "",
        prompts.RETOUCH_SOFT,
        800,
    )
    assert [(ref.width, ref.height) for ref in order.inputs] == [(900, 1200)]
    assert await chat.state() is None


async def test_enhance_with_an_instruction(chat: Conversation, launcher: RecordingLauncher) -> None:
    kinds = await open_with_a_photo(chat)
    await chat.press(kinds["Усилить черты · 8 ₽"])
    assert chat.step().text == texts.retouch_instruction(800)
    assert list(buttons(chat.step().reply_markup)) == [texts.BTN_SKIP, texts.BTN_CANCEL]
    assert await chat.state() == RetouchFlow.instruction.state

    await chat.send("убери блики")
    (order,) = launcher.orders
    assert (order.model.key, order.prompt, order.fixed_prompt) == (
        "sde",
        "убери блики",
        prompts.RETOUCH_ENHANCE,
    )


async def test_enhance_skipping_the_instruction(chat: Conversation, launcher: RecordingLauncher) -> None:
    kinds = await open_with_a_photo(chat)
    await chat.press(kinds["Усилить черты · 8 ₽"])
    await chat.press(buttons(chat.step().reply_markup)[texts.BTN_SKIP])
    assert chat.step().text == texts.RETOUCH_SKIPPED
    (order,) = launcher.orders
    assert (order.model.key, order.prompt, order.price) == ("sde", "", 800)


async def test_a_photo_over_ten_megabytes_is_refused(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_RETOUCH)
    await chat.photo(file_size=11 * MB)
    assert chat.last().text == texts.image_too_large(10 * MB)
    assert await chat.state() == RetouchFlow.image.state  # the user sends a smaller one
    assert chat.intake.accepted == [] and launcher.orders == []
