"""Wrapping by measured width, explicit breaks, emoji in line, shrinking instead of clipping."""

import pytest
from text_render.emoji_source import Piece, split_line
from text_render.errors import TextTooLong
from text_render.fonts import get_font
from text_render.layout import EMOJI_SCALE, fit_text, layout_text


def lay(text: str, max_width: float, size: int = 40):
    return layout_text(text, font_size=size, bold=True, max_width=max_width, line_spacing=1.2)


def test_font_has_cyrillic_and_two_weights() -> None:
    regular, bold = get_font(40, False), get_font(40, True)
    assert regular.getlength("Съешь ещё этих мягких французских булок") > 0
    assert bold.getlength("Жирный") > regular.getlength("Жирный")
    # A real Cyrillic glyph, not the missing-glyph box: two different letters differ.
    assert regular.getmask("Ж").getbbox() != regular.getmask("ж").getbbox()


def test_explicit_line_breaks_are_kept() -> None:
    layout = lay("Первая\nВторая\n\nЧетвёртая", 2000)
    assert [line.text for line in layout.lines] == ["Первая", "Вторая", "", "Четвёртая"]


def test_wrap_uses_measured_width_not_character_count() -> None:
    narrow, wide = "і" * 18, "Ш" * 10
    max_width = get_font(40, True).getlength("Ш" * 12)
    # 37 narrow characters fit on one line, 32 wide ones need three.
    assert len(lay(f"{narrow} {narrow}", max_width).lines) == 1
    wide_layout = lay(f"{wide} {wide} {wide}", max_width)
    assert len(wide_layout.lines) == 3
    assert all(line.width <= max_width for line in wide_layout.lines)


def test_long_line_wraps_at_spaces_within_the_width() -> None:
    text = "Длинная строка из многих слов, которая никак не поместится в одну строку картинки"
    layout = lay(text, 400)
    assert len(layout.lines) > 1
    assert all(line.width <= 400 for line in layout.lines)
    assert " ".join(line.text for line in layout.lines) == text


def test_unbreakable_word_is_cut_by_width() -> None:
    word = "Превысокомногорассмотрительствующий"
    layout = lay(word, 300)
    assert len(layout.lines) > 1
    assert all(line.width <= 300 for line in layout.lines)
    assert "".join(line.text for line in layout.lines) == word


def test_emoji_are_pieces_with_local_images() -> None:
    assert split_line("Привет 🙂 мир ❤️") == [
        Piece("Привет ", False),
        Piece("🙂", True),
        Piece(" мир ", False),
        Piece("❤️", True),
    ]


def test_emoji_is_inline_and_as_tall_as_the_letters() -> None:
    layout = lay("Ура 🎉 победа", 2000, size=50)
    (line,) = layout.lines
    emoji_run = next(run for run in line.runs if run.is_emoji)
    assert 0 < emoji_run.x < line.width
    assert layout.emoji_size == round(50 * EMOJI_SCALE)
    cap_top = get_font(50, True).getbbox("У", anchor="ls")[1]
    emoji_top, emoji_bottom = layout.emoji_top, layout.emoji_top + layout.emoji_size
    assert abs(emoji_top - cap_top) < 0.25 * 50
    assert 0 <= emoji_bottom < 0.25 * 50


def chrome(size: int) -> tuple[float, float]:
    return size, size * 0.6


def test_text_that_fits_keeps_its_size() -> None:
    layout = fit_text(
        "Коротко", font_size=40, bold=True, line_spacing=1.2, max_width=800, max_height=400, chrome=chrome
    )
    assert layout.font_size == 40


def test_text_too_tall_is_shrunk_to_fit() -> None:
    text = "\n".join(f"Строка номер {i}" for i in range(12))
    layout = fit_text(
        text, font_size=80, bold=True, line_spacing=1.2, max_width=600, max_height=400, chrome=chrome
    )
    assert layout.font_size < 80
    extra_w, extra_h = chrome(layout.font_size)
    assert layout.height + extra_h <= 400
    assert layout.width + extra_w <= 600
    bigger = layout_text(text, font_size=layout.font_size + 1, bold=True, max_width=600, line_spacing=1.2)
    assert bigger.height + chrome(layout.font_size + 1)[1] > 400 or bigger.width > 600


def test_text_that_cannot_fit_at_all_is_refused() -> None:
    with pytest.raises(TextTooLong):
        fit_text(
            "Слово " * 400,
            font_size=40,
            bold=True,
            line_spacing=1.2,
            max_width=100,
            max_height=60,
            chrome=chrome,
        )
