"""The message catalogs: every text the code asks for is in each language, nothing stale is left in
them, each translation fills in the same placeholders, and no user-facing text is hard-coded outside."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from gateway_bot import texts
from gateway_bot.handlers import promo
from gateway_bot.i18n import LOCALES, catalog_path
from medialab_contracts.catalog import MARKETPLACE_FORMATS

PACKAGE = Path(texts.__file__).parent
CYRILLIC = re.compile("[А-Яа-яЁё]")
_LITERAL_KEY = re.compile(r"""_t\(["']([A-Za-z_]+)["']\)""")  # texts' ``_t("KEY")``


def _catalog(locale: str) -> dict[str, str]:
    with catalog_path(locale).open("rb") as source:
        catalog = read_po(source, locale=locale)
    return {str(message.id): str(message.string) for message in catalog if message.id}


def _keys_used() -> set[str]:
    """Every msgid the code can ask for: declared names, literal keys and the keys built from enums."""
    used = set(texts.CATALOG_NAMES) | set(_LITERAL_KEY.findall((PACKAGE / "texts.py").read_text()))
    # Mappings to keys, read with ``texts.text`` when they answer.
    used.update(texts._TOPUP_TEXTS.values(), texts._PROMO_TEXTS.values(), promo._REFUSALS.values())
    used.update(texts.SERVICE_ERROR_TEXTS.values())
    for value in vars(texts).values():
        if isinstance(value, texts._Named):
            used.update(value.key(member) for member in value)
    used.update(f"FORMAT_{orientation}" for orientation in ("vertical", "square", "horizontal"))
    used.update(f"FORMAT_{fmt.key}" for fmt in MARKETPLACE_FORMATS)
    used.update(f"CMD_{name}" for name in (*texts._COMMAND_NAMES, "invite"))
    return used


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_key_is_translated_and_none_is_stale(locale: str) -> None:
    catalog = _catalog(locale)
    used = _keys_used()
    assert sorted(used - set(catalog)) == [], "missing in the catalog"
    assert sorted(set(catalog) - used) == [], "stale: in the catalog, asked for by no code"
    assert [key for key, value in catalog.items() if not value.strip()] == [], "empty translations"


def test_translations_fill_in_the_same_placeholders() -> None:
    russian, english = _catalog("ru"), _catalog("en")
    differ = [key for key in russian if _placeholders(russian[key]) != _placeholders(english[key])]
    assert differ == []


def test_english_has_no_russian_left() -> None:
    """Only the language picker names Russian in Russian."""
    english = _catalog("en")
    assert [key for key, value in english.items() if CYRILLIC.search(value) and key != "LANGUAGE_ru"] == []


def test_english_keeps_the_emoji_and_markup_of_russian() -> None:
    russian, english = _catalog("ru"), _catalog("en")

    def marks(value: str) -> list[str]:
        tags = re.findall(r"</?[a-z]+>", value)
        emoji = [char for char in value if ord(char) > 0x2190 and not CYRILLIC.match(char)]
        return sorted(tags + [e for e in emoji if e not in "«»—–−…“”×•→"])

    # Command descriptions are plain text («/promo <code>» is no tag there).
    differ = [
        key for key in russian if not key.startswith("CMD_") and marks(russian[key]) != marks(english[key])
    ]
    assert differ == []


def _cyrillic_literals(path: Path) -> list[str]:
    """String literals with Cyrillic in them, docstrings aside (comments are not literals)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and CYRILLIC.search(node.value)
    ]


# Russian the bot reads, never shows: the extended form's keyword and the «х» typed for ×.
_READ_NOT_SHOWN = {"parsing.py"}


def test_no_text_is_hard_coded_outside_the_catalogs() -> None:
    found = [
        literal
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name not in _READ_NOT_SHOWN
        for literal in _cyrillic_literals(path)
    ]
    assert found == []
