"""Pieces of delivery that need no Telegram: splitting long text, the preview of a large PNG."""

from __future__ import annotations

import io

from gateway_bot.delivery.sender import TELEGRAM_TEXT_LIMIT, split_text
from gateway_bot.imaging import preview_jpeg
from PIL import Image


def test_short_text_is_one_piece() -> None:
    assert split_text("  короткий промпт  ") == ["короткий промпт"]


def test_long_text_splits_at_breaks_and_keeps_every_word() -> None:
    paragraph = "слово " * 300
    text = "\n\n".join([paragraph.strip()] * 5)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(piece) <= TELEGRAM_TEXT_LIMIT for piece in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    assert all(not piece.startswith(" ") and not piece.endswith(" ") for piece in pieces)


def test_text_without_breaks_is_cut_hard() -> None:
    pieces = split_text("я" * 9000)
    assert [len(piece) for piece in pieces] == [4096, 4096, 808]


def test_preview_is_a_small_jpeg() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (3000, 1500), (10, 200, 30, 128)).save(out, format="PNG")
    preview = preview_jpeg(out.getvalue(), 1280)
    with Image.open(io.BytesIO(preview)) as image:
        assert image.format == "JPEG"
        assert image.size == (1280, 640)
