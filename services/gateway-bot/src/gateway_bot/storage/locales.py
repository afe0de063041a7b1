"""Each user's language in the KV bucket ``locales`` (no expiry): ``locale.<user_id>``.

The value is ``{"locale": "en", "chosen": true}``: chosen with /language, it stays; derived from
Telegram's ``language_code`` (``chosen`` false), it follows that code when it changes. The delivery
and payment consumers, which run outside any update, read it to speak the user's language.
"""

from __future__ import annotations

import json

from nats.js.kv import KeyValue

from gateway_bot.i18n import DEFAULT_LOCALE, LOCALES
from gateway_bot.storage.kv import read_json


class UserLocales:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @staticmethod
    def _key(user_id: int) -> str:
        return f"locale.{user_id}"

    async def of(self, user_id: int) -> str:
        """The user's locale; Russian for a user the bot has not seen."""
        value, _ = await read_json(self._kv, self._key(user_id))
        locale = value.get("locale") if isinstance(value, dict) else None
        return locale if locale in LOCALES else DEFAULT_LOCALE

    async def resolve(self, user_id: int, derived: str) -> str:
        """The locale of an update: the chosen one, else ``derived`` (stored when it is news)."""
        value, _ = await read_json(self._kv, self._key(user_id))
        if isinstance(value, dict):
            if value.get("chosen") and value.get("locale") in LOCALES:
                return str(value["locale"])
            if value.get("locale") == derived:
                return derived
        await self._kv.put(self._key(user_id), _payload(derived, chosen=False))
        return derived

    async def choose(self, user_id: int, locale: str) -> None:
        await self._kv.put(self._key(user_id), _payload(locale, chosen=True))


def _payload(locale: str, *, chosen: bool) -> bytes:
    return json.dumps({"locale": locale, "chosen": chosen}).encode()
