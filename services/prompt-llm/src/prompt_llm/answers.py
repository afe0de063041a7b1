"""From a raw LLM answer to the value an operation returns: clean, validate, or refuse with a
complaint that the repair call passes back to the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from medialab_contracts.jobs import MAX_PROMPT_CHARS
from medialab_contracts.text_style import TextStyle

from prompt_llm import validators as v
from prompt_llm.cleaning import clean_prose, extract_json_text


class BadAnswer(Exception):
    """The answer failed validation; ``complaint`` says why, in words the model can act on."""

    def __init__(self, complaint: str) -> None:
        super().__init__(complaint)
        self.complaint = complaint


@dataclass(frozen=True)
class PromptRules:
    min_chars: int
    max_chars: int
    min_cyrillic_share: float


def _refuse_if(complaint: str | None) -> None:
    if complaint is not None:
        raise BadAnswer(complaint)


def read_written_prompt(raw: str, rules: PromptRules) -> str:
    """M2: a long Russian description with lighting and style, one reading, no generation knobs."""
    text = clean_prose(raw)
    _refuse_if(v.check_not_empty(text))
    _refuse_if(
        v.combine(
            v.check_russian(text, rules.min_cyrillic_share),
            v.check_length(text, rules.min_chars, rules.max_chars),
            v.check_no_technical_terms(text),
            v.check_unambiguous(text),
            v.check_covers_light_and_style(text),
            v.check_no_chatter(text),
        )
    )
    return text


def read_translation(raw: str, source: str, min_latin_share: float) -> str:
    """An English text about as long as the source, with nothing said around it."""
    text = clean_prose(raw, source)
    _refuse_if(v.check_not_empty(text))
    _refuse_if(
        v.combine(
            v.check_english(v.without_quoted(text), min_latin_share),
            v.check_length_ratio(source, text),
            # The translation becomes a job's prompt, so it has to fit one.
            v.check_length(text, 1, MAX_PROMPT_CHARS),
            v.check_no_chatter(text),
        )
    )
    return text


def read_style(raw: str) -> dict[str, Any]:
    """The partial ``TextStyle`` the wish describes: only the fields the model gave, normalised."""
    candidate = extract_json_text(raw)
    _refuse_if(v.check_style_json(candidate))
    return partial_style(json.loads(candidate))


def partial_style(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate ``fields`` as a ``TextStyle`` and keep only those fields (``#FFF`` → ``#ffffff``)."""
    style = TextStyle.model_validate(fields)
    return style.model_dump(mode="json", include=set(fields))


def is_english(text: str, min_latin_share: float) -> bool:
    """Nothing to translate: no Cyrillic, and letters (if any) mostly Latin."""
    if v.cyrillic_share(text) > 0:
        return False
    return not v.has_letters(text) or v.latin_share(text) >= min_latin_share
