"""The language of each update: the user's /language choice, else their Telegram ``language_code``.

An update outer middleware (aiogram's I18nMiddleware), so everything after it, the throttle's
replies included, speaks the user's language. The locale is kept per user in KV (``storage.locales``)
for the consumers that send outside an update (job deliveries, payment notices).
"""

from __future__ import annotations

from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18nMiddleware

from gateway_bot.i18n import i18n, locale_for
from gateway_bot.storage.locales import UserLocales


class LocaleMiddleware(I18nMiddleware):
    def __init__(self, locales: UserLocales) -> None:
        super().__init__(i18n)
        self._locales = locales

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return i18n.default_locale
        return await self._locales.resolve(user.id, locale_for(user.language_code))
