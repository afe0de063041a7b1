"""The TextStyle contract refuses hostile values; the LLM's partial style merges over the rules."""

import math

import pytest
from medialab_contracts.text_style import Position, SizeWord, TextStyle
from pydantic import ValidationError
from text_render.style_merge import merge_styles
from text_render.style_parser import parse_style


def test_defaults_are_automatic() -> None:
    style = TextStyle()
    assert style.size is SizeWord.normal
    assert style.position is Position.bottom
    assert (style.size_px, style.color, style.plate, style.plate_color, style.plate_opacity_pct) == (
        None,
    ) * 5
    assert (style.offset_pct, style.stroke, style.stroke_width_px, style.stroke_color) == (None,) * 4


@pytest.mark.parametrize(
    "bad",
    [
        {"size_px": 5000},
        {"size_px": 0},
        {"size_px": 12.5},
        {"offset_pct": 99},
        {"offset_pct": math.nan},
        {"line_spacing": math.inf},
        {"plate_opacity_pct": 101},
        {"plate_opacity_pct": -1},
        {"plate_blur_px": 10_000},
        {"max_width_pct": 5},
        {"stroke_width_px": 500},
        {"color": "red"},
        {"color": "#12345"},
        {"color": "#ffffff; drop table"},
        {"plate_color": 16777215},
        {"position": "left"},
        {"size": "gigantic"},
        {"font": "Comic Sans"},
    ],
)
def test_hostile_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TextStyle.model_validate(bad)


@pytest.mark.parametrize(
    ("raw", "normal"), [("#FFF", "#ffffff"), ("00ff00", "#00ff00"), (" #AbCdEf ", "#abcdef")]
)
def test_hex_colours_are_normalised(raw: str, normal: str) -> None:
    assert TextStyle(color=raw).color == normal


def test_json_round_trip() -> None:
    style = parse_style("Крупный белый текст в центре, на чёрной плашке")
    assert TextStyle.model_validate_json(style.model_dump_json()) == style


def test_llm_fields_win_over_rules() -> None:
    rules = parse_style("Крупный белый текст в центре")
    merged = merge_styles(rules, {"color": "#FF0000", "plate": True, "plate_opacity_pct": 40})
    assert merged.color == "#ff0000"
    assert merged.plate is True
    assert merged.plate_opacity_pct == 40
    assert merged.size is SizeWord.large
    assert merged.position is Position.center


def test_invalid_llm_fields_fall_back_to_rules_one_by_one() -> None:
    rules = parse_style("Текст размером 72px снизу, красный")
    llm = {
        "size_px": 5000,  # out of range
        "color": "dark red",  # not a hex code
        "position": None,  # "not specified" never erases a rule
        "unknown_field": 1,
        "plate_blur_px": 3,  # valid: applied
    }
    merged = merge_styles(rules, llm)
    assert merged.size_px == 72
    assert merged.color == "#ff0000"
    assert merged.position is Position.bottom
    assert merged.plate_blur_px == 3


@pytest.mark.parametrize("llm", [None, "Крупный", ["color", "#fff"], 42])
def test_non_mapping_llm_result_changes_nothing(llm: object) -> None:
    rules = parse_style("Огромный текст по центру")
    assert merge_styles(rules, llm) == rules


def test_merge_keeps_which_fields_were_asked_for() -> None:
    merged = merge_styles(parse_style("сверху"), {"bold": False})
    assert merged.model_fields_set == {"position", "bold"}
