"""Helpers of the gateway's tests: a Telegram session that records what the bot asked; routers let go."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import Chat, Message


class Telegram(BaseSession):
    """Answers like Telegram; ``on_send`` runs while a message is being sent (to cross it)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.on_send: Callable[[], Awaitable[None]] | None = None

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.requests.append(method)
        if isinstance(method, SendMessage):
            if self.on_send is not None:
                await self.on_send()
            chat = Chat(id=int(method.chat_id), type="private")
            return Message(message_id=len(self.requests), date=datetime.now(UTC), chat=chat, text=method.text)
        return True

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        yield b""

    async def close(self) -> None:
        pass

    def kinds(self) -> list[str]:
        return [type(method).__name__ for method in self.requests]


def detach_routers(dp: Dispatcher) -> None:
    """Let the gateway's routers go: they are module singletons, and aiogram attaches a router to one
    parent for good, so each test that builds a dispatcher frees them for the next one."""
    for router in dp.sub_routers:
        router._parent_router = None
    dp.sub_routers.clear()
