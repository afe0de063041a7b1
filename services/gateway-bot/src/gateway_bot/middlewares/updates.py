"""Outer middleware on every update: count it by type and drop one already processed (by update id)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from gateway_bot.metrics import DUPLICATE_UPDATES, UPDATES
from gateway_bot.storage.records import SeenUpdates


class UpdateGateMiddleware(BaseMiddleware):
    def __init__(self, seen: SeenUpdates) -> None:
        self._seen = seen

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        UPDATES.labels(event.event_type).inc()
        if not await self._seen.first_time(event.update_id):
            DUPLICATE_UPDATES.inc()
            return None
        return await handler(event, data)
