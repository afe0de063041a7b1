"""M1 🎨 Создать: model → format → prompt; a prompt typed at the menu; the extended form under its price."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.states import CreateFlow
from medialab_contracts.billing import BalanceRequest, EnsureUserRequest
from medialab_contracts.catalog import default_catalog
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import BillingResponder, Conversation, RecordingLauncher, buttons

CATALOG = default_catalog()


async def test_model_then_format_then_prompt(
    chat: Conversation, launcher: RecordingLauncher, billing: BillingResponder
) -> None:
    await chat.send(texts.BTN_CREATE)
    menu = chat.last()
    assert menu.text == texts.CREATE_CHOOSE_MODEL
    models = buttons(menu.reply_markup)
    assert list(models) == [
        "Nano Banana Pro · от 24 ₽",
        "Nano-banana · 8 ₽",
        "Seedream · 8 ₽",
        texts.BTN_CANCEL,
    ]
    assert await chat.state() == CreateFlow.model.state
    assert isinstance(billing.requests[0], EnsureUserRequest)  # the middleware made billing know the user

    await chat.press(models["Nano Banana Pro · от 24 ₽"])
    step = chat.step()
    assert step.text == texts.choose_format(CATALOG.by_key("nbp"))
    formats = buttons(step.reply_markup)
    assert step.text == "Модель: Nano Banana Pro · от 24 ₽\nВыберите формат и разрешение:"
    assert len(formats) == 10 and formats[texts.BTN_CANCEL]

    await chat.press(formats["Горизонтальное 4:3 · 4K 4800×3584 · 48 ₽"])
    assert chat.step().text == texts.enter_prompt(CATALOG.by_key("nbp"))
    assert launcher.orders == []

    await chat.send("  маяк в тумане \n")
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.mode, order.model.key, order.prompt, order.size.width, order.size.height, order.price) == (
        Mode.create,
        "nbp",
        "маяк в тумане",
        4800,
        3584,
        4800,
    )
    assert await chat.state() is None


async def test_prompt_typed_at_the_menu_starts_on_the_format(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send("кот в шляпе")
    assert chat.last().text == texts.DRAFT_CHOOSE_MODEL
    await chat.press(buttons(chat.last().reply_markup)["Nano-banana · 8 ₽"])
    formats = buttons(chat.step().reply_markup)
    await chat.press(formats["Горизонтальное 4:3 1184×864"])
    assert chat.step().text == "Модель: Nano-banana · 8 ₽\nФормат: Горизонтальное 4:3 1184×864"
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.model.key, order.prompt, order.size.width, order.size.height, order.price) == (
        "nb",
        "кот в шляпе",
        1184,
        864,
        800,
    )


async def test_seedream_offers_marketplace_cards_at_their_exact_pixels(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    """Seedream takes any size, so it can be asked for a card's pixels; nano-banana's sizes are fixed."""
    await chat.send(texts.BTN_CREATE)
    models = buttons(chat.last().reply_markup)
    await chat.press(models["Seedream · 8 ₽"])
    formats = buttons(chat.step().reply_markup)
    cards = [
        "Wildberries 3:4 900×1200 · 8 ₽",
        "Ozon 3:4 1200×1600 · 8 ₽",
        "Яндекс Маркет 1:1 1200×1200 · 8 ₽",
    ]
    labels = list(formats)
    first = labels.index(cards[0])
    assert labels[first : first + 3] == cards  # after the ratio formats, before the variants row
    await chat.press(formats["Wildberries 3:4 900×1200 · 8 ₽"])
    assert chat.step().text == texts.enter_prompt(CATALOG.by_key("sd"))
    await chat.send("белые кроссовки на светлом фоне")
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.model.key, order.size.width, order.size.height, order.price) == ("sd", 900, 1200, 800)


async def test_nano_banana_offers_no_marketplace_card(chat: Conversation) -> None:
    for model in ("Nano-banana · 8 ₽", "Nano Banana Pro · от 24 ₽"):
        await chat.send(texts.BTN_CREATE)
        await chat.press(buttons(chat.last().reply_markup)[model])
        assert not any("Wildberries" in label for label in buttons(chat.step().reply_markup))


async def test_extended_form_waits_in_kv_for_launch_under_its_price(
    chat: Conversation, launcher: RecordingLauncher, billing: BillingResponder
) -> None:
    await chat.send("Изображение маяк в тумане | model=flux | size=1024x768")
    offer = chat.last()
    assert offer.text == "Создание · FLUX.1 [dev]\nСтоимость: 8 ₽. Запустить?"
    assert isinstance(billing.requests[-1], BalanceRequest)  # the balance was read, nothing reserved
    assert launcher.orders == []

    await chat.press(buttons(offer.reply_markup)[texts.BTN_LAUNCH])
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.mode, order.model.key, order.prompt, order.size.width, order.size.height) == (
        Mode.create,
        "flux",
        "маяк в тумане",
        1024,
        768,
    )
    assert chat.step().text == "Создание · FLUX.1 [dev]\nСтоимость: 8 ₽."

    await chat.press(buttons(offer.reply_markup)[texts.BTN_LAUNCH])  # a second tap launches nothing
    assert len(launcher.orders) == 1
    assert chat.session.answers()[-1] == texts.STALE_BUTTON


async def test_extended_form_beyond_the_balance_is_refused(
    chat: Conversation, launcher: RecordingLauncher, billing: BillingResponder
) -> None:
    billing.available = 500
    await chat.send("Изображение маяк | model=flux")
    refusal = chat.last()
    assert refusal.text == texts.insufficient_funds(800, 500)
    assert list(buttons(refusal.reply_markup)) == ["💳 Пополнить на 100 ₽"]
    assert launcher.orders == [] and await chat.state() is None
