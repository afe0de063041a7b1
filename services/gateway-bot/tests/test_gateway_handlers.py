"""Routing and replies without any process: a recording Telegram session fed with updates.

Router order matters (commands before flows, the catch-all last) and errors become Russian replies
in one place; these tests pin both down in milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.types import CallbackQuery, Chat, Message, MessageEntity, Sticker, Update, User
from gateway_bot import texts
from gateway_bot.handlers import get_routers
from gateway_bot.settings import GatewaySettings
from medialab_contracts.catalog import default_catalog

USER = User(id=5, is_bot=False, first_name="Тест")
CHAT = Chat(id=5, type="private")


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.requests.append(method)
        if isinstance(method, SendMessage):
            return Message(message_id=len(self.requests), date=datetime.now(UTC), chat=CHAT, text=method.text)
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        pass

    def sent_texts(self) -> list[str]:
        return [m.text for m in self.requests if isinstance(m, SendMessage)]


@pytest.fixture
def session() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(session: RecordingSession) -> Bot:
    return Bot("42:TEST", session=session)


@pytest.fixture(scope="module")
def dispatcher() -> Dispatcher:
    # The routers are module singletons: they attach to one dispatcher per test module.
    settings = GatewaySettings(tg_bot_token="42:TEST", admin_ids="1")
    # No client is reached in these tests: each update fails or answers before that.
    clients = dict.fromkeys(("billing", "jobs", "launcher", "intake", "inputs", "albums"))
    dispatcher = Dispatcher(
        storage=MemoryStorage(),
        settings=settings,
        catalog=default_catalog(),
        admin_ids=settings.admin_ids,
        **clients,
    )
    dispatcher.include_routers(*get_routers())
    return dispatcher


@pytest.fixture
def dp(dispatcher: Dispatcher) -> Dispatcher:
    dispatcher.fsm.storage = MemoryStorage()  # a fresh conversation per test
    return dispatcher


def text_update(text: str, update_id: int = 1) -> Update:
    entities = (
        [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))] if text[0] == "/" else None
    )
    message = Message(
        message_id=update_id, date=datetime.now(UTC), chat=CHAT, from_user=USER, text=text, entities=entities
    )
    return Update(update_id=update_id, message=message)


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
