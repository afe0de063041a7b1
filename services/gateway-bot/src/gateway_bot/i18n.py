"""The bot's languages: gettext catalogs per locale, and the locale each update and delivery speaks in.

The catalogs (``locales/<locale>/LC_MESSAGES/messages.po``) are the source of truth and are compiled
in memory at import with Babel, so no binary ``.mo`` is committed or built: a fresh checkout, the
wheel and the image all run from the same ``.po``. Their msgids are stable keys (``BTN_CREATE``,
``job_status_accepted``), not Russian source text, so a missing translation is a missing key the
catalog test sees, never a silent fallback to another language.

Russian is the default: a user whose Telegram ``language_code`` is not English, or who has none.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
DEFAULT_LOCALE = "ru"
LOCALES: tuple[str, ...] = ("ru", "en")


class PoCatalogs(I18n):
    """aiogram's I18n reading the ``.po`` files themselves (its own wants compiled ``.mo`` files)."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for locale in LOCALES:
            path = catalog_path(locale)
            with path.open("rb") as source:
                catalog = read_po(source, locale=locale, domain=self.domain)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            translations[locale] = gettext.GNUTranslations(compiled)
        return translations


def catalog_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def locale_for(language_code: str | None) -> str:
    """The locale a Telegram ``language_code`` gets before the user picks one with /language."""
    if language_code and language_code.lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LOCALE


i18n = PoCatalogs(path=LOCALES_DIR, default_locale=DEFAULT_LOCALE, domain=DOMAIN)
