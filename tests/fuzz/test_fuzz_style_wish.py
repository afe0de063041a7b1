"""M5 style wishes, fuzzed with the parser's own vocabulary: every number branch, every unit, digits
of other scripts; then the style drawn on a small picture.

``parse_style`` never refuses (what it does not understand stays automatic), so the property is: a
valid ``TextStyle`` for any wish, and a render that either succeeds or refuses with text-render's own
typed error (text too long to fit) — never anything else, whatever the numbers.
"""

from __future__ import annotations

import io

from hypothesis import example, given, settings
from hypothesis import strategies as st
from medialab_contracts.text_style import TextStyle
from PIL import Image
from text_render.errors import RenderError
from text_render.render import render
from text_render.style_parser import parse_style

NOUNS = [
    "размер",
    "размер шрифта",
    "кегль",
    "высота букв",
    "прозрачность",
    "прозрачность плашки",
    "полупрозрачная",
    "непрозрачная",
    "плотность",
    "непрозрачность",
    "размытие",
    "без размытия",
    "блюр",
    "радиус размытия",
    "расстояние от низа",
    "отступ сверху",
    "отступ",
    "смещение",
    "поля",
    "обводка",
    "контур",
    "без обводки",
    "межстрочный интервал",
    "интервал между строк",
    "ширина",
    "максимальная ширина текста",
    "плашка",
    "без плашки",
    "на фоне",
    "жирный",
    "не жирный",
    "тонкий шрифт",
    "по центру",
    "вверху",
    "снизу",
    "слева",
    "по правому краю",
]
ADJECTIVES = [
    "крупный",
    "огромный",
    "очень большой",
    "маленький",
    "средний",
    "обычный",
    "белый",
    "чёрной",
    "красным",
    "золотистый",
    "#fc0",
    "#12ab9f",
    "#zzz",
    "серебристого",
]
SEPARATORS = ["", " ", ": ", " — ", " = ", " в ", " на ", "-"]
UNITS = ["", "px", " px", "пикселей", "пкс", "%", " процентов", "пх"]
DIGITS = "0123456789٣٤٥٦０１²"
numbers = st.builds(
    lambda whole, frac: whole + frac,
    st.text(alphabet=DIGITS, min_size=1, max_size=6),
    st.sampled_from(["", ".5", ",25", ".", ",", ".000001"]),
)
phrases = st.one_of(
    st.builds(
        lambda n, s, x, u: f"{n}{s}{x}{u}",
        st.sampled_from(NOUNS),
        st.sampled_from(SEPARATORS),
        numbers,
        st.sampled_from(UNITS),
    ),
    st.builds(
        lambda x, u, e: f"{x}{u} от {e}",
        numbers,
        st.sampled_from(UNITS),
        st.sampled_from(["низа", "верха", "края"]),
    ),
    st.sampled_from(NOUNS + ADJECTIVES),
)
wishes = st.builds(
    lambda parts, glue: glue.join(parts),
    st.lists(phrases, min_size=1, max_size=6),
    st.sampled_from([" ", ", ", "; ", "\n", " и ", ". "]),
)


def picture(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(out, format="PNG")
    return out.getvalue()


PICTURES = [picture((96, 64)), picture((64, 300)), picture((400, 120))]


@settings(max_examples=400, deadline=None)
@given(wish=st.one_of(wishes, st.text(max_size=120)), which=st.integers(0, len(PICTURES) - 1))
@example(wish="размер 9999px, прозрачность 0.000001, размытие 999, отступ 99% от низа", which=0)
@example(wish="размер ٣٤ пикселей, межстрочный интервал 9,5, ширина 5%", which=1)
@example(wish="обводка 99px, контур 0, без обводки, плашка #zzz, на белом", which=2)
def test_any_wish_gives_a_style_that_renders_or_is_refused_typed(wish: str, which: int) -> None:
    style = parse_style(wish)
    assert isinstance(style, TextStyle)
    assert parse_style(wish) == style  # no hidden state between calls
    try:
        render(PICTURES[which], "Привет 🎉\nвторая строка текста", style)
    except RenderError:
        pass
