"""Pieces of delivery that need no Telegram: splitting long text, previews, fitting under the limit."""

from __future__ import annotations

import io
import random

import pytest
from gateway_bot.delivery.fitting import Fit, UnreadableResult, fit_document
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


def _png(size: tuple[int, int], *, grainy: bool, mode: str = "RGB") -> bytes:
    if grainy:
        image = Image.frombytes("RGB", size, random.Random(1).randbytes(size[0] * size[1] * 3)).convert(mode)
    else:
        image = Image.new(mode, size, (10, 200, 30, 128) if mode == "RGBA" else (10, 200, 30))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_png_under_the_limit_goes_as_it_is() -> None:
    data = _png((300, 200), grainy=False)
    fitted = fit_document(data, len(data))
    assert fitted is not None and (fitted.fit, fitted.data, fitted.extension) == (Fit.png, data, "png")


def test_a_png_over_the_limit_becomes_a_jpeg_of_the_same_pixels() -> None:
    data = _png((400, 300), grainy=True, mode="RGBA")
    fitted = fit_document(data, len(data) - 1)
    assert fitted is not None and (fitted.fit, fitted.extension) == (Fit.jpeg, "jpg")
    with Image.open(io.BytesIO(fitted.data)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (400, 300))


def test_a_jpeg_still_over_the_limit_is_downscaled_until_it_fits() -> None:
    data = _png((600, 400), grainy=True)
    fitted = fit_document(data, 60_000)
    assert fitted is not None and fitted.fit is Fit.downscaled
    assert len(fitted.data) <= 60_000
    with Image.open(io.BytesIO(fitted.data)) as image:
        assert image.size == (fitted.width, fitted.height)
        assert image.width < 600 and abs(image.width / image.height - 1.5) < 0.02


def test_unreadable_results_are_told_apart() -> None:
    with pytest.raises(UnreadableResult):
        fit_document(b"not an image at all" * 100, 10)
