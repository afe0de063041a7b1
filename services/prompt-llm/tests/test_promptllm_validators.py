"""Pure parts of prompt-llm: validators, cleaning, answer readers, prompt files, cache keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from medialab_contracts.text_style import TextStyle
from prompt_llm import validators as v
from prompt_llm.answers import (
    BadAnswer,
    PromptRules,
    is_english,
    read_style,
    read_translation,
    read_written_prompt,
)
from prompt_llm.cache import cache_key, normalise
from prompt_llm.cleaning import clean_prose, extract_json_text
from prompt_llm.prompt_files import available_versions, load_prompt, render

# A good M2 answer: long, Russian, subject → appearance → surroundings → lighting → style.
GOOD_PROMPT = (Path(__file__).parent / "data" / "good_prompt.ru.txt").read_text(encoding="utf-8").strip()
RULES = PromptRules(min_chars=1000, max_chars=3500, min_cyrillic_share=0.85)


def test_good_prompt_passes_every_check() -> None:
    assert len(GOOD_PROMPT) > 1000
    assert read_written_prompt(GOOD_PROMPT, RULES) == GOOD_PROMPT


@pytest.mark.parametrize(
    ("answer", "complaint_part"),
    [
        ("Рыжий кот на подоконнике, мягкий свет, фотография.", "at least 1000 characters"),
        (GOOD_PROMPT + " Качество 8К, --ar 16:9, размер 1024х1024.", "technical parameters"),
        (GOOD_PROMPT + " Сгенерировано в Midjourney.", "model or service names"),
        (GOOD_PROMPT + " Seed 42, 30 steps, CFG 7.", "seed values"),
        ("A ginger Maine Coon cat sits on a wide windowsill in warm light. " * 20, "must be in Russian"),
        (GOOD_PROMPT.replace("медного оттенка", "медного или рыжего оттенка"), "«или»"),
        (GOOD_PROMPT + " Возможно, на подоконнике лежит яблоко.", "«возможно»"),
        ("Кот на окне. " * 120, "does not describe the lighting and the style"),
        ("", "empty"),
    ],
)
def test_bad_prompts_get_a_complaint(answer: str, complaint_part: str) -> None:
    with pytest.raises(BadAnswer) as bad:
        read_written_prompt(answer, RULES)
    assert complaint_part in bad.value.complaint


def test_several_problems_are_named_in_one_complaint() -> None:
    with pytest.raises(BadAnswer) as bad:
        read_written_prompt("Кот в стиле фотографии, мягкий свет, 8k", RULES)
    assert "at least 1000" in bad.value.complaint and "technical" in bad.value.complaint


def test_prompt_wrapping_is_cleaned_not_rejected() -> None:
    bold = f"**{GOOD_PROMPT[:40]}**{GOOD_PROMPT[40:]}"
    wrapped = f"Вот подробный промпт:\n\n{bold}\n\nПримечание: можно менять детали."
    assert read_written_prompt(wrapped, RULES) == GOOD_PROMPT


def test_too_long_prompt_is_refused() -> None:
    with pytest.raises(BadAnswer, match="at most 3500"):
        read_written_prompt(GOOD_PROMPT * 3, RULES)


def test_technical_checks_leave_ordinary_words_alone() -> None:
    assert (
        v.check_no_technical_terms("Время 12:30, на часах без пяти. Кот весом 5 кг и домик в 2 км.") is None
    )
    assert v.check_no_technical_terms("Шаги по лестнице, семена травы, чёткий контур.") is None
    assert v.check_no_technical_terms("Девушка стоит лицом 2 к окну, вторая спиной.") is None
    assert v.check_unambiguous("Какой-либо узор на ткани не нужен, кто-то вдали.") is None
    for bad in (
        "4k",
        "8К",
        "UHD",
        "1920x1080",
        "1080p",
        "--v 6",
        "aspect ratio",
        "stable diffusion",
        "nano-banana",
    ):
        assert v.check_no_technical_terms(f"Кот {bad} на окне") is not None, bad


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A ginger cat in a hat sits on a windowsill", "A ginger cat in a hat sits on a windowsill"),
        ("Here is the translation:\nA ginger cat in a hat", "A ginger cat in a hat"),
        ("Translation: A ginger cat in a hat", "A ginger cat in a hat"),
        ('"A ginger cat in a hat"', "A ginger cat in a hat"),
        ("```\nA ginger cat in a hat\n```", "A ginger cat in a hat"),
        ("A ginger cat in a hat\n\nNote: I kept the word order.", "A ginger cat in a hat"),
    ],
)
def test_translation_chatter_is_stripped(raw: str, expected: str) -> None:
    assert read_translation(raw, "Рыжий кот в шляпе сидит", 0.9) == expected


def test_quotes_that_belong_to_the_text_stay() -> None:
    assert clean_prose('"Hello" written on a "sign"') == '"Hello" written on a "sign"'
    assert clean_prose('"Stop"', source="«Стоп»") == '"Stop"'


@pytest.mark.parametrize(
    ("raw", "complaint_part"),
    [
        ("Рыжий кот в шляпе сидит на подоконнике", "must be in English"),
        ("", "empty"),
        ("Cat.", "something is missing"),
        ("A ginger cat in a hat sits on a windowsill. " * 10, "something was added"),
        ("I'm sorry, I cannot translate this text for you, it is fine as is.", "talks around"),
    ],
)
def test_bad_translations_get_a_complaint(raw: str, complaint_part: str) -> None:
    with pytest.raises(BadAnswer) as bad:
        read_translation(raw, "Рыжий кот в шляпе сидит на подоконнике", 0.9)
    assert complaint_part in bad.value.complaint


def test_an_inscription_keeps_its_language_inside_a_translation() -> None:
    source = "Торт с надписью «С днём рождения, Маша» на белой глазури"
    answer = 'A cake with the inscription "С днём рождения, Маша" on white icing'
    assert read_translation(answer, source, 0.9) == answer
    with pytest.raises(BadAnswer):
        read_translation("Торт с надписью на белой глазури, A cake", source, 0.9)


def test_short_words_may_translate_longer() -> None:
    assert read_translation("hedgehog", "ёж", 0.9) == "hedgehog"


def test_english_detection() -> None:
    assert is_english("A red fox in the snow, 35mm photo", 0.9)
    assert is_english("1234 🎉", 0.9)
    assert not is_english("A red fox и снег", 0.9)
    assert not is_english("一只红狐狸", 0.9)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"size": "large", "color": "#FF0", "position": "top"}',
            {"size": "large", "color": "#ffff00", "position": "top"},
        ),
        ('```json\n{"plate": false, "offset_pct": 10}\n```', {"plate": False, "offset_pct": 10.0}),
        ('Sure! {"size_px": 72}', {"size_px": 72}),
        ("{}", {}),
    ],
)
def test_style_json_is_extracted_and_normalised(raw: str, expected: dict[str, object]) -> None:
    assert read_style(raw) == expected


@pytest.mark.parametrize(
    ("raw", "complaint_part"),
    [
        ('{"size": "large", "color": }', "not valid JSON"),
        ("Крупный жёлтый текст сверху", "not valid JSON"),
        ('["large"]', "must be a JSON object"),
        ('{"size_px": 5000}', "size_px"),
        ('{"font": "Arial"}', "font"),
        ('{"color": "жёлтый"}', "color"),
    ],
)
def test_bad_style_json_gets_a_complaint(raw: str, complaint_part: str) -> None:
    with pytest.raises(BadAnswer) as bad:
        read_style(raw)
    assert complaint_part in bad.value.complaint


def test_extract_json_prefers_the_fenced_block() -> None:
    assert extract_json_text('text {"a": 1}\n```json\n{"b": 2}\n```') == '{"b": 2}'


def test_prompt_files_are_versioned_and_complete() -> None:
    for name in ("write_prompt", "translate", "parse_style", "repair"):
        prompt = load_prompt(name)
        assert prompt.version == max(available_versions(name)) >= 1
        assert prompt.tag == f"{name}.v{prompt.version}" and len(prompt.digest) == 12
    style_prompt = load_prompt("parse_style").text
    missing = [field for field in TextStyle.model_fields if f'"{field}"' not in style_prompt]
    assert missing == []
    with pytest.raises(FileNotFoundError):
        load_prompt("translate", version=999)


def test_repair_template_carries_complaint_request_and_answer() -> None:
    text = render(load_prompt("repair"), complaint="too short $x", request="кот", answer="Cat.")
    assert "too short $x" in text and "кот" in text and "Cat." in text and "$" not in text.replace("$x", "")


def test_cache_key_normalises_input_and_depends_on_prompt_and_model() -> None:
    prompt = load_prompt("translate")
    assert normalise("  Рыжий\n\tКОТ  ") == "рыжий кот"
    key = cache_key("translate", prompt, "m1", "Рыжий  КОТ")
    assert key == cache_key("translate", prompt, "m1", "рыжий кот")
    assert key.startswith("translate.") and key != cache_key("translate", prompt, "m2", "рыжий кот")
    newer = type(prompt)(name=prompt.name, version=prompt.version + 1, text=prompt.text)
    assert key != cache_key("translate", newer, "m1", "рыжий кот")
