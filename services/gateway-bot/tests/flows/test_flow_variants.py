"""Variants: under the formats of a model that can return several images, 1 / 2 / 4 with their totals;
the choice redraws the step, the prompt step shows the total, the order asks for that many images."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.states import CreateFlow
from medialab_contracts.catalog import default_catalog
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons

CATALOG = default_catalog()
NANO = CATALOG.by_key("nb")


async def test_four_variants_chosen_under_the_formats_reach_the_order(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send(texts.BTN_CREATE)
    await chat.press(buttons(chat.last().reply_markup)["Nano-banana · 8 ₽"])
    step = chat.step()
    assert step.text == texts.choose_format(NANO)
    assert "Вариантов: 1" in step.text and "8 ₽ за изображение" in step.text
    choices = buttons(step.reply_markup)
    assert [label for label in choices if "вариант" in label] == [
        "✅ 1 вариант · 8 ₽",
        "2 варианта · 16 ₽",
        "4 варианта · 32 ₽",
    ]

    await chat.press(choices["4 варианта · 32 ₽"])
    step = chat.step()
    assert await chat.state() == CreateFlow.format.state
    assert step.text == texts.choose_format(NANO, 4) and "Вариантов: 4" in step.text
    choices = buttons(step.reply_markup)
    assert "✅ 4 варианта · 32 ₽" in choices and "1 вариант · 8 ₽" in choices

    await chat.press(choices["Квадрат 1:1 1024×1024"])
    assert (
        chat.step().text
        == "Модель: Nano-banana · 32 ₽ (4 × 8 ₽)\nНапишите промпт — что должно быть на изображении."
    )
    assert launcher.orders == []
    await chat.send("маяк в тумане")
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.images, order.price) == (Mode.create, "nb", 4, 3200)


async def test_two_variants_of_an_edit_chosen_where_the_images_are_asked_for(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send(texts.BTN_EDIT)
    await chat.press(buttons(chat.last().reply_markup)["Nano-Banana · 8 ₽"])
    await chat.press(buttons(chat.step().reply_markup)["2 варианта · 16 ₽"])
    step = chat.step()
    assert "Вариантов: 2" in step.text and "✅ 2 варианта · 16 ₽" in buttons(step.reply_markup)
    await chat.photo(1024, 768)
    await chat.send("сделай фон синим")
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.images, order.price) == (Mode.edit, "nbe", 2, 1600)


async def test_a_model_without_variants_offers_no_count_and_orders_one(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send("кот в шляпе")
    await chat.press(buttons(chat.last().reply_markup)["Nano Banana Pro · от 24 ₽"])
    choices = buttons(chat.step().reply_markup)
    assert not [label for label in choices if "вариант" in label]
    await chat.press(choices["Квадрат 1:1 · 1K 1024×1024 · 24 ₽"])
    (order,) = launcher.orders
    assert (order.images, order.price) == (1, 2400)


async def test_a_count_from_an_older_step_or_over_the_models_limit_is_stale(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send("кот в шляпе")
    await chat.press(buttons(chat.last().reply_markup)["Nano-banana · 8 ₽"])
    step = chat.step()
    three = buttons(step.reply_markup)["2 варианта · 16 ₽"].replace(":2", ":3")
    await chat.press(three)
    assert chat.session.answers()[-1] == texts.STALE_BUTTON
    await chat.press(buttons(chat.step().reply_markup)["Квадрат 1:1 1024×1024"])
    (order,) = launcher.orders
    assert order.images == 1
