"""Routing and replies without any process: a recording Telegram session fed with updates.

Router order matters (commands before flows, the catch-all last) and errors become Russian replies
in one place; these tests pin both down in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Sticker,
    Update,
    User,
)
from gateway_bot import texts
from gateway_bot.callbacks import FormatCb, ModelCb, NavAction, NavCb
from gateway_bot.failures import TranslationFailed, UploadExpired
from gateway_bot.flows.launcher import Order
from gateway_bot.handlers import get_routers
from gateway_bot.settings import GatewaySettings
from medialab_contracts.billing import BalanceView
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import InsufficientFunds, MediaLabError, ServiceUnavailable
from medialab_contracts.events import JobSucceeded, MediaOutput
from medialab_contracts.ids import new_job_id
from medialab_contracts.modes import Mode
from medialab_testkit.telegram import RecordingSession, detach_routers

USER = User(id=5, is_bot=False, first_name="Тест")
CHAT = Chat(id=5, type="private")
CATALOG = default_catalog()
EXTENDED = "Изображение маяк в тумане | model=flux | size=1024x768"


class FakeBilling:
    def __init__(self) -> None:
        self.available = 3000

    async def balance(self, user_id: int) -> BalanceView:
        return BalanceView(user_id=user_id, balance=self.available, reserved=0, available=self.available)


class FakeLauncher:
    """Records what would start; nothing is reserved or published in these tests."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.refusal: MediaLabError | TranslationFailed | UploadExpired | None = None

    async def launch(self, bot: Bot, order: Order) -> None:
        if self.refusal is not None:
            raise self.refusal
        self.orders.append(order)


class MemoryClaims:
    def __init__(self) -> None:
        self._taken: set[tuple[int, str]] = set()

    async def first(self, user_id: int, flow: str) -> bool:
        fresh = (user_id, flow) not in self._taken
        self._taken.add((user_id, flow))
        return fresh


class FakeJobs:
    def __init__(self) -> None:
        self.results: dict[str, JobSucceeded] = {}

    async def result(self, job_id: str) -> JobSucceeded | None:
        return self.results.get(job_id)


@pytest.fixture
def session() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(session: RecordingSession) -> Bot:
    return Bot("42:TEST", session=session)


@pytest.fixture(scope="module")
def dispatcher() -> Iterator[Dispatcher]:
    # The routers are module singletons: they attach to one dispatcher per test module.
    settings = GatewaySettings(tg_bot_token="42:TEST", admin_ids="1")
    # Clients a test reaches are fakes set per test (``dp``); the rest fail or answer before that.
    clients = dict.fromkeys(
        ("billing", "jobs", "launcher", "intake", "inputs", "albums", "launch_claims", "orders")
    )
    dispatcher = Dispatcher(
        storage=MemoryStorage(),
        settings=settings,
        catalog=default_catalog(),
        admin_ids=settings.admin_ids,
        **clients,
    )
    dispatcher.include_routers(*get_routers())
    yield dispatcher
    detach_routers(dispatcher)


@pytest.fixture
def billing() -> FakeBilling:
    return FakeBilling()


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
def jobs() -> FakeJobs:
    return FakeJobs()


@pytest.fixture
def dp(dispatcher: Dispatcher, billing: FakeBilling, launcher: FakeLauncher, jobs: FakeJobs) -> Dispatcher:
    dispatcher.fsm.storage = MemoryStorage()  # a fresh conversation per test
    fakes = {"billing": billing, "launcher": launcher, "jobs": jobs, "launch_claims": MemoryClaims()}
    for name, fake in {**fakes, "catalog": CATALOG}.items():
        dispatcher[name] = fake
    return dispatcher


def text_update(text: str, update_id: int = 1) -> Update:
    entities = (
        [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))] if text[0] == "/" else None
    )
    message = Message(
        message_id=update_id, date=datetime.now(UTC), chat=CHAT, from_user=USER, text=text, entities=entities
    )
    return Update(update_id=update_id, message=message)


def press_update(data: str, update_id: int, message_id: int = 1) -> Update:
    message = Message(message_id=message_id, date=datetime.now(UTC), chat=CHAT, text="…")
    query = CallbackQuery(id=f"q{update_id}", from_user=USER, chat_instance="c", data=data, message=message)
    return Update(update_id=update_id, callback_query=query)


def button_data(request: SendMessage) -> dict[str, str]:
    assert request.reply_markup is not None
    return {b.text: b.callback_data for row in request.reply_markup.inline_keyboard for b in row}


async def test_start_and_ping(dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
    await dp.feed_update(bot, text_update("/start"))
    await dp.feed_update(bot, text_update("/ping", 2))
    assert session.sent_texts() == [texts.START, texts.PONG]
    assert session.requests[0].reply_markup is not None


async def test_menu_button_wins_over_a_flow_waiting_for_text(
    dp: Dispatcher, bot: Bot, session: RecordingSession
) -> None:
    await dp.feed_update(bot, text_update(texts.BTN_CREATE))
    await dp.feed_update(bot, text_update(texts.BTN_WRITE, 2))
    assert session.sent_texts()[1].startswith("✍️ Опишите")


async def test_add_balance_by_non_admin_is_refused(
    dp: Dispatcher, bot: Bot, session: RecordingSession
) -> None:
    await dp.feed_update(bot, text_update("/add_balance 500"))
    assert session.sent_texts() == [texts.NOT_ADMIN]


async def test_typed_errors_become_replies(dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
    await dp.feed_update(bot, text_update("Изображение кот | model=dalle9"))
    await dp.feed_update(bot, text_update("/status nope", 2))
    sent = session.sent_texts()
    assert sent[0].startswith("Неизвестная модель «dalle9»")
    assert sent[1] == texts.STATUS_BAD_ID


async def test_sticker_and_unknown_button(dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
    sticker = Sticker(
        file_id="s", file_unique_id="s", type="regular", width=1, height=1, is_animated=False, is_video=False
    )
    message = Message(message_id=1, date=datetime.now(UTC), chat=CHAT, from_user=USER, sticker=sticker)
    await dp.feed_update(bot, Update(update_id=1, message=message))
    query = CallbackQuery(id="q", from_user=USER, chat_instance="c", data="m:deadbeef:nbp")
    await dp.feed_update(bot, Update(update_id=2, callback_query=query))
    assert session.sent_texts() == [texts.UNKNOWN_MESSAGE]
    (answer,) = [m for m in session.requests if isinstance(m, AnswerCallbackQuery)]
    assert answer.text == texts.STALE_BUTTON


async def test_text_where_a_button_is_expected(dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
    await dp.feed_update(bot, text_update(texts.BTN_CREATE))
    await dp.feed_update(bot, text_update("кот", 2))
    assert session.sent_texts()[1] == texts.EXPECTED_BUTTON


async def test_negative_for_a_model_without_one_is_refused_before_the_price(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher
) -> None:
    await dp.feed_update(bot, text_update(EXTENDED + " | negative=люди"))
    assert session.sent_texts() == [texts.extended_no_negative("FLUX.1 [dev]")]
    assert launcher.orders == []


async def test_extended_form_shows_its_price_and_starts_only_on_launch(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher
) -> None:
    await dp.feed_update(bot, text_update(EXTENDED))
    (offer,) = session.sent()
    assert offer.text == "Создание · FLUX.1 [dev]\nСтоимость: 8 ₽. Запустить?"
    buttons = button_data(offer)
    assert list(buttons) == ["✅ Запустить", "❌ Отмена"]
    assert launcher.orders == []  # the price is all that happened so far

    await dp.feed_update(bot, press_update(buttons["✅ Запустить"], 2))
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.prompt, order.negative) == (
        Mode.create,
        "flux",
        "маяк в тумане",
        None,
    )
    assert order.size is not None and (order.size.width, order.size.height) == (1024, 768)
    assert order.chat_id == CHAT.id
    assert session.answers() == [None]
    assert session.edits() == ["Создание · FLUX.1 [dev]\nСтоимость: 8 ₽."]  # the buttons are gone

    await dp.feed_update(bot, press_update(buttons["✅ Запустить"], 3))  # a second tap
    assert len(launcher.orders) == 1
    assert session.answers() == [None, texts.STALE_BUTTON]


async def test_extended_form_beyond_the_balance_is_refused_before_any_button(
    dp: Dispatcher, bot: Bot, session: RecordingSession, billing: FakeBilling, launcher: FakeLauncher
) -> None:
    billing.available = 500
    await dp.feed_update(bot, text_update(EXTENDED))
    (refusal,) = session.sent()
    assert refusal.text == texts.insufficient_funds(800, 500)
    assert isinstance(refusal.reply_markup, InlineKeyboardMarkup)  # only the top-up: no launch button
    assert [b.text for row in refusal.reply_markup.inline_keyboard for b in row] == ["💳 Пополнить на 100 ₽"]
    key = StorageKey(bot_id=bot.id, chat_id=CHAT.id, user_id=USER.id)
    assert await dp.fsm.storage.get_state(key) is None
    assert launcher.orders == []


async def test_cancel_under_the_price_then_launch_is_stale(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher
) -> None:
    await dp.feed_update(bot, text_update(EXTENDED))
    buttons = button_data(session.sent()[0])
    await dp.feed_update(bot, press_update(buttons["❌ Отмена"], 2))
    await dp.feed_update(bot, press_update(buttons["✅ Запустить"], 3))
    assert session.sent_texts()[1:] == [texts.CANCELLED]
    assert session.answers() == [None, texts.STALE_BUTTON]
    assert launcher.orders == []


async def test_forged_or_repriced_launch_is_stale(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher
) -> None:
    await dp.feed_update(bot, text_update(EXTENDED))
    flow = NavCb.unpack(button_data(session.sent()[0])["✅ Запустить"]).flow
    forged = NavCb(action=NavAction.launch, flow="deadbeef").pack()
    await dp.feed_update(bot, press_update(forged, 2))
    dp["catalog"] = default_catalog({"flux": 900})  # the price list changed after 8 ₽ was shown
    await dp.feed_update(bot, press_update(NavCb(action=NavAction.launch, flow=flow).pack(), 3))
    assert session.answers() == [texts.STALE_BUTTON, texts.STALE_BUTTON]
    assert launcher.orders == []


async def test_upscale_under_a_result_shows_its_price_first(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher, jobs: FakeJobs
) -> None:
    job = new_job_id()
    output = MediaOutput(object_name=f"results/{job}/0.png", content_type="image/png", width=8, height=8)
    jobs.results[job] = JobSucceeded(
        job_id=job, user_id=USER.id, chat_id=CHAT.id, mode=Mode.create, outputs=[output]
    )
    await dp.feed_update(bot, press_update(f"res:u:{job}:0", 1))
    (offer,) = session.sent()
    assert offer.text == "Улучшение · Recraft Crisp ×2\nСтоимость: 8 ₽. Запустить?"
    assert session.answers() == [None] and launcher.orders == []

    await dp.feed_update(bot, press_update(button_data(offer)["✅ Запустить"], 2))
    (order,) = launcher.orders
    assert (order.mode, order.model.key) == (Mode.upscale, "ups")
    assert [ref.object_name for ref in order.inputs] == [output.object_name]


async def test_funds_spent_before_the_press_are_told_after_it(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher
) -> None:
    await dp.feed_update(bot, text_update(EXTENDED))
    launcher.refusal = InsufficientFunds(available=300, price=800)  # spent elsewhere meanwhile
    await dp.feed_update(bot, press_update(button_data(session.sent()[0])["✅ Запустить"], 2))
    assert session.sent_texts()[-1] == texts.insufficient_funds(800, 300)


async def seedream_draft_until_launch(dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
    """A prompt typed at the menu, Seedream, then the square format: the press that launches."""
    await dp.feed_update(bot, text_update("кот в шляпе"))
    models = button_data(session.sent()[0])
    flow = ModelCb.unpack(models["Seedream · 8 ₽"]).flow
    await dp.feed_update(bot, press_update(models["Seedream · 8 ₽"], 2))
    await dp.feed_update(bot, press_update(FormatCb(flow=flow, fmt="s2k").pack(), 3))


async def test_a_format_of_another_model_is_stale_and_launches_nothing(
    dp: Dispatcher, bot: Bot, session: RecordingSession, launcher: FakeLauncher
) -> None:
    await dp.feed_update(bot, text_update("кот в шляпе"))
    models = button_data(session.sent()[0])
    flow = ModelCb.unpack(models["Seedream · 8 ₽"]).flow
    await dp.feed_update(bot, press_update(models["Seedream · 8 ₽"], 2))
    await dp.feed_update(bot, press_update(FormatCb(flow=flow, fmt="s1k").pack(), 3))  # Nano Banana Pro's
    assert session.answers()[-1] == texts.STALE_BUTTON
    assert launcher.orders == []
    await dp.feed_update(bot, press_update(FormatCb(flow=flow, fmt="s4k").pack(), 4))
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.model.key, order.size.width, order.size.height, order.price) == ("sd", 4096, 4096, 800)


@pytest.mark.parametrize(
    ("refusal", "told"),
    [
        (TranslationFailed("llm_bad_output"), texts.TRANSLATE_FAILED),
        (InsufficientFunds(available=300, price=800), texts.insufficient_funds(800, 300)),
        (ServiceUnavailable("billing down"), texts.SERVICE_UNAVAILABLE),
        (UploadExpired("uploads/1/gone"), texts.describe_input(UploadExpired())),
    ],
    ids=["translation", "funds", "service", "upload-expired"],
)
async def test_a_job_that_cannot_start_ends_the_flow_and_the_next_prompt_is_understood(
    dp: Dispatcher,
    bot: Bot,
    session: RecordingSession,
    launcher: FakeLauncher,
    refusal: MediaLabError | TranslationFailed | UploadExpired,
    told: str,
) -> None:
    launcher.refusal = refusal
    await seedream_draft_until_launch(dp, bot, session)
    assert session.sent_texts()[-1] == told
    key = StorageKey(bot_id=bot.id, chat_id=CHAT.id, user_id=USER.id)
    assert await dp.fsm.storage.get_state(key) is None  # the format buttons are gone: so is the step

    launcher.refusal = None
    await dp.feed_update(bot, text_update("кот в шляпе", 4))
    assert session.sent_texts()[-1] == texts.DRAFT_CHOOSE_MODEL  # not «choose with a button»
