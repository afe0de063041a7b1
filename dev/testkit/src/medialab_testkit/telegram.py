"""A recording aiogram session (the bot under test talks to it instead of Telegram), and routers let go."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, TelegramMethod
from aiogram.types import Chat, Message


class RecordingSession(BaseSession):
    """Answers like Telegram and keeps every request.

    A callback query answered twice is refused, as Telegram does; ``on_send`` runs while a message is
    being sent (to cross it with something else).
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.on_send: Callable[[], Awaitable[None]] | None = None
        self._answered: set[str] = set()

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.requests.append(method)
        if isinstance(method, AnswerCallbackQuery):
            if method.callback_query_id in self._answered:
                raise TelegramBadRequest(method, "query is too old or query ID is invalid")
            self._answered.add(method.callback_query_id)
        if isinstance(method, SendMessage):
            if self.on_send is not None:
                await self.on_send()
            chat = Chat(id=int(method.chat_id), type="private")
            return Message(message_id=len(self.requests), date=datetime.now(UTC), chat=chat, text=method.text)
        return True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        pass

    def kinds(self) -> list[str]:
        return [type(method).__name__ for method in self.requests]

    def sent(self) -> list[SendMessage]:
        return [m for m in self.requests if isinstance(m, SendMessage)]

    def sent_texts(self) -> list[str]:
        return [m.text for m in self.sent()]

    def answers(self) -> list[str | None]:
        return [m.text for m in self.requests if isinstance(m, AnswerCallbackQuery)]

    def edits(self) -> list[str | None]:
        return [m.text for m in self.requests if isinstance(m, EditMessageText)]


def detach_routers(dp: Dispatcher) -> None:
    """Let a bot's routers go: module-level routers are singletons, and aiogram attaches a router to
    one parent for good, so each test that builds a dispatcher frees them for the next one."""
    for router in dp.sub_routers:
        router._parent_router = None
    dp.sub_routers.clear()
