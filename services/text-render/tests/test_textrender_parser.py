"""Russian style wishes → TextStyle, checked field by field (every field not listed must stay
at its default)."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from medialab_contracts.text_style import TextStyle
from text_render.style_parser import parse_style

WHITE, BLACK, RED, YELLOW = "#ffffff", "#000000", "#ff0000", "#ffff00"

WISHES: list[tuple[str, dict[str, Any]]] = [
    # The five examples from the product description.
    (
        "Крупный белый текст в центре, на чёрной плашке",
        {"size": "large", "color": WHITE, "position": "center", "plate": True, "plate_color": BLACK},
    ),
    (
        "Огромный текст по центру, красный цвет, без плашки",
        {"size": "huge", "color": RED, "position": "center", "plate": False},
    ),
    (
        "Обычный текст снизу, белая плашка с прозрачностью 50%",
        {
            "size": "normal",
            "position": "bottom",
            "plate": True,
            "plate_color": WHITE,
            "plate_opacity_pct": 50,
        },
    ),
    (
        "Текст размером 72px снизу, расстояние от низа 10%",
        {"size_px": 72, "position": "bottom", "offset_pct": 10.0},
    ),
    (
        "Белая плашка с размытием, радиус размытия 5",
        {"plate": True, "plate_color": WHITE, "plate_blur_px": 5},
    ),
    # Size words in different cases.
    ("маленький текст", {"size": "small"}),
    ("маленьким шрифтом сверху", {"size": "small", "position": "top"}),
    ("Средний", {"size": "medium"}),
    ("средним размером внизу", {"size": "medium", "position": "bottom"}),
    ("обычного размера", {"size": "normal"}),
    ("крупным", {"size": "large"}),
    ("сделай крупнее", {"size": "large"}),
    ("огромного размера, жёлтым цветом", {"size": "huge", "color": YELLOW}),
    ("ОГРОМНЫМИ буквами", {"size": "huge"}),
    ("очень большой текст", {"size": "huge"}),
    ("большой отступ снизу", {"position": "bottom"}),
    # Pixels.
    ("48px", {"size_px": 48}),
    ("72 пикселей", {"size_px": 72}),
    ("размер 96", {"size_px": 96}),
    ("размер шрифта: 40", {"size_px": 40}),
    ("текст 5000px", {"size_px": 1000}),
    # Colours: genders, cases, ё/е, hex.
    ("черный текст", {"color": BLACK}),
    ("чёрным цветом", {"color": BLACK}),
    ("белые буквы", {"color": WHITE}),
    ("синего цвета", {"color": "#0000ff"}),
    ("голубая надпись", {"color": "#42aaff"}),
    ("зелёным", {"color": "#00a000"}),
    ("оранжевый", {"color": "#ff8c00"}),
    ("розовое", {"color": "#ff69b4"}),
    ("фиолетовыми буквами", {"color": "#8b00ff"}),
    ("серый текст", {"color": "#808080"}),
    ("золотым цветом по центру", {"color": "#ffd700", "position": "center"}),
    ("цвет #FF8800", {"color": "#ff8800"}),
    ("текст #0f0", {"color": "#00ff00"}),
    # Colour near «плашка» → plate, others → text.
    ("красный текст на белой плашке", {"color": RED, "plate": True, "plate_color": WHITE}),
    ("на синей плашке белый текст", {"color": WHITE, "plate": True, "plate_color": "#0000ff"}),
    (
        "текст зелёный, плашка серая, прозрачность 30%",
        {"color": "#00a000", "plate": True, "plate_color": "#808080", "plate_opacity_pct": 70},
    ),
    ("фиолетовые буквы на голубом фоне", {"color": "#8b00ff", "plate": True, "plate_color": "#42aaff"}),
    ("красный на белом", {"color": RED, "plate": True, "plate_color": WHITE}),
    ("плашка чёрная", {"plate": True, "plate_color": BLACK}),
    ("полупрозрачная черная подложка", {"plate": True, "plate_color": BLACK, "plate_opacity_pct": 50}),
    # Positions and offsets.
    ("сверху", {"position": "top"}),
    ("вверху", {"position": "top"}),
    ("в центре", {"position": "center"}),
    ("внизу", {"position": "bottom"}),
    ("в верхней части", {"position": "top"}),
    ("снизу по центру", {"position": "bottom"}),
    ("отступ 10% от верха", {"position": "top", "offset_pct": 10.0}),
    ("на 15% от низа", {"position": "bottom", "offset_pct": 15.0}),
    ("отступ снизу 7,5%", {"position": "bottom", "offset_pct": 7.5}),
    ("слева внизу", {"position": "bottom", "align": "left"}),
    ("по правому краю", {"align": "right"}),
    # Plate, opacity, blur.
    ("без плашки", {"plate": False}),
    ("плашка не нужна, белый текст", {"plate": False, "color": WHITE}),
    ("на плашке", {"plate": True}),
    ("прозрачность 50%", {"plate": True, "plate_opacity_pct": 50}),
    ("прозрачность плашки 20 %", {"plate": True, "plate_opacity_pct": 80}),
    ("непрозрачность 80%", {"plate": True, "plate_opacity_pct": 80}),
    ("размытие 5", {"plate": True, "plate_blur_px": 5}),
    ("размытие 12px, без обводки", {"plate": True, "plate_blur_px": 12, "stroke": False}),
    ("с размытием", {"plate": True, "plate_blur_px": 8}),
    # Weight, stroke, spacing, width.
    ("жирный шрифт", {"bold": True}),
    ("нежирный", {"bold": False}),
    ("с чёрной обводкой 3px", {"stroke": True, "stroke_width_px": 3, "stroke_color": BLACK}),
    ("межстрочный интервал 1,5, ширина 70%", {"line_spacing": 1.5, "max_width_pct": 70}),
    # Nothing asked.
    ("/skip", {}),
    ("", {}),
    ("  По умолчанию ", {}),
    ("просто добавь текст", {}),
]


def test_at_least_forty_wishes() -> None:
    assert len(WISHES) >= 40


@pytest.mark.parametrize(("wish", "expected"), WISHES, ids=[w or "<empty>" for w, _ in WISHES])
def test_wish(wish: str, expected: dict[str, Any]) -> None:
    style = parse_style(wish)
    want = TextStyle(**expected)
    for name in TextStyle.model_fields:
        assert getattr(style, name) == getattr(want, name), name


def test_none_is_defaults() -> None:
    assert parse_style(None) == TextStyle()


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("абвгдежзийклмнопрстуфхцчшщыьэюя ёЁ0123456789%#,.-:pxf\n")),
        max_size=200,
    )
)
def test_any_wish_gives_a_valid_style(wish: str) -> None:
    assert isinstance(parse_style(wish), TextStyle)


@given(st.text(max_size=300))
def test_arbitrary_unicode_never_breaks_the_parser(wish: str) -> None:
    assert isinstance(parse_style(wish), TextStyle)
