"""Make sure billing knows the user (30 ₽ welcome credit) before any handler runs, once per user."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from medialab_contracts.errors import MediaLabError

from gateway_bot.clients.billing import BillingClient

log = logging.getLogger(__name__)


class EnsureUserMiddleware(BaseMiddleware):
    def __init__(self, billing: BillingClient, cache_size: int = 100_000) -> None:
        self._billing = billing
        self._known: OrderedDict[int, None] = OrderedDict()
        self._cache_size = cache_size

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and not user.is_bot and user.id not in self._known:
            try:
                await self._billing.ensure_user(user.id, user.username, user.first_name)
            except MediaLabError as error:
                # Not fatal here: /ping and the menu work without billing; paid steps will say so.
                log.warning("ensure_user(%d) failed: %s", user.id, error.code)
            else:
                self._known[user.id] = None
                if len(self._known) > self._cache_size:
                    self._known.popitem(last=False)
        return await handler(event, data)
