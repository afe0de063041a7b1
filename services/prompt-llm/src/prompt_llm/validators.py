"""Checks of LLM answers: pure functions, each returning a complaint (English, for the repair call)
or ``None`` when the text passes."""

from __future__ import annotations

import json
import re
import unicodedata

from medialab_contracts.text_style import TextStyle
from pydantic import ValidationError

# Generation parameters and model names an image prompt must not carry (M2: "no technical
# parameters"). Cyrillic look-alikes are covered because the answer is Russian: "8К", "1024х1024".
_TECHNICAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        # "8К" counts only attached: "лицом 2 к окну" has the preposition «к».
        ("resolution tags like 4k/8k", r"(?<![\w.,])\d{1,2}(?:\s?k|к)(?!\w)"),
        ("HD/UHD tags", r"(?<!\w)(?:u?hd|full\s?hd|ultra\s?hd)(?!\w)"),
        ("pixel sizes like 1024x1024", r"(?<!\w)\d{3,5}\s?[x×х]\s?\d{3,5}(?!\w)"),
        ("pixel counts", r"(?<!\w)\d{3,5}\s?(?:px|p|пикс\w*)(?!\w)"),
        ("command-line flags like --ar", r"(?<![\w-])--[a-z]+"),
        (
            "aspect ratios",
            r"aspect\s+ratio|соотношени\w*\s+сторон"
            r"|(?<![\w:])(?:1:1|2:3|3:2|3:4|4:3|4:5|5:4|9:16|16:9|9:21|21:9)(?![\w:])",
        ),
        ("generation steps", r"(?<!\w)steps?(?!\w)|шаг\w*\s+генерации"),
        ("seed values", r"(?<!\w)seed(?!\w)"),
        ("CFG/guidance values", r"(?<!\w)(?:cfg|guidance(?:\s+scale)?)(?!\w)"),
        ("sampler names", r"(?<!\w)sampler(?!\w)|(?<!\w)euler(?:\s+a)?(?!\w)|(?<!\w)dpm\+*"),
        ("negative prompts", r"negative\s+prompt|негативн\w*\s+промпт"),
        (
            "model or service names",
            r"midjourney|stable\s?diffusion|(?<!\w)sdxl(?!\w)|dall[\s·-]?e|nano[\s-]?banana"
            r"|(?<!\w)flux(?!\w)|seedream|нано[\s-]?банан",
        ),
    )
)

# Words that leave a choice open ("красное или синее", "возможно, шляпа"): M2 wants one reading.
_AMBIGUITY_RE = re.compile(
    r"(?<![\w-])(?:или|либо|возможно|может\s+быть|то\s+ли|на\s+выбор)(?![\w-])", re.IGNORECASE
)

_LIGHT_RE = re.compile(r"свет|освещ|сияни|блик|(?<!\w)тен[иья]", re.IGNORECASE)
_STYLE_RE = re.compile(
    r"стил|эстетик|манер|фотограф|живопис|иллюстрац|рисун|картин|палитр|композиц|атмосфер|настроени",
    re.IGNORECASE,
)

# Talk around the answer instead of the answer itself; cleaning removes the usual prefaces,
# so whatever still matches here needs a repair.
_CHATTER_RE = re.compile(
    r"^\s*(?:here\s+is|here's)\s+(?:the|your|a)\s+(?:\w+\s+)?(?:translation|translated|prompt|version)"
    r"|^\s*(?:sure|certainly|of\s+course)[,!.]|^\s*translation\s*:"
    r"|^\s*вот\s+(?:\w+\s+)?(?:промпт|перевод|описание)|^\s*(?:конечно|разумеется)[,!.]|^\s*промпт\s*:"
    r"|as\s+an\s+ai|language\s+model|(?<!\w)i\s+(?:cannot|can't|am\s+unable)|i'm\s+(?:sorry|unable)"
    r"|как\s+языковая\s+модель|я\s+не\s+могу|^\s*(?:note|примечание)\s*:",
    re.IGNORECASE | re.MULTILINE,
)


def _script_share(text: str, script: str) -> float:
    """Share of letters of ``script`` ("CYRILLIC", "LATIN") among all letters; 0 when none."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    hits = sum(1 for ch in letters if unicodedata.name(ch, "").startswith(script))
    return hits / len(letters)


def cyrillic_share(text: str) -> float:
    return _script_share(text, "CYRILLIC")


def latin_share(text: str) -> float:
    return _script_share(text, "LATIN")


_QUOTED_RE = re.compile(r"«[^»]*»|“[^”]*”|„[^“”]*[“”]|\"[^\"]*\"")


def without_quoted(text: str) -> str:
    """``text`` minus quoted parts: an inscription to draw keeps its language inside a translation."""
    return _QUOTED_RE.sub(" ", text)


def has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def check_not_empty(text: str) -> str | None:
    return None if text.strip() else "the answer is empty"


def check_length(text: str, min_chars: int, max_chars: int) -> str | None:
    size = len(text)
    if size < min_chars:
        return f"the answer is {size} characters long; it must be at least {min_chars} characters"
    if size > max_chars:
        return f"the answer is {size} characters long; it must be at most {max_chars} characters"
    return None


def check_russian(text: str, min_share: float) -> str | None:
    share = cyrillic_share(text)
    if share < min_share:
        return f"the answer must be in Russian; only {share:.0%} of its letters are Cyrillic"
    return None


def check_english(text: str, min_share: float) -> str | None:
    share = latin_share(text)
    if share < min_share:
        return f"the answer must be in English; only {share:.0%} of its letters are Latin"
    return None


def check_no_technical_terms(text: str) -> str | None:
    found = [label for label, pattern in _TECHNICAL_PATTERNS if pattern.search(text)]
    if found:
        return "the answer contains technical parameters, which are forbidden: " + ", ".join(found)
    return None


def check_unambiguous(text: str) -> str | None:
    words = sorted({m.group(0).lower() for m in _AMBIGUITY_RE.finditer(text)})
    if words:
        listed = ", ".join(f"«{w}»" for w in words)
        return f"the answer leaves choices open ({listed}); describe one definite variant of everything"
    return None


def check_covers_light_and_style(text: str) -> str | None:
    missing = [
        name for name, pattern in (("lighting", _LIGHT_RE), ("style", _STYLE_RE)) if not pattern.search(text)
    ]
    if missing:
        return "the answer does not describe the " + " and the ".join(missing)
    return None


def check_no_chatter(text: str) -> str | None:
    match = _CHATTER_RE.search(text)
    if match:
        return f"the answer talks around the result («{match.group(0).strip()}»); give only the result itself"
    return None


def check_length_ratio(source: str, answer: str) -> str | None:
    """A translation is about as long as its source; a far shorter or longer one lost or added text."""
    low = 0.4 * len(source) - 5
    high = 3.0 * len(source) + 40
    sizes = f"the translation has {len(answer)} characters for a {len(source)}-character text"
    if len(answer) < low:
        return f"{sizes}; something is missing"
    if len(answer) > high:
        return f"{sizes}; something was added"
    return None


def check_style_json(text: str) -> str | None:
    """``text`` must be one JSON object whose fields are valid ``TextStyle`` fields."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return f"the answer is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if not isinstance(value, dict):
        return f"the answer must be a JSON object, not a JSON {type(value).__name__}"
    try:
        TextStyle.model_validate(value)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(p) for p in item['loc']) or 'object'}: {item['msg']}"
            for item in error.errors()[:4]
        ]
        return "the JSON does not match the style fields: " + "; ".join(problems)
    return None


def combine(*complaints: str | None) -> str | None:
    """All complaints in one sentence, so one repair call can fix every problem at once."""
    found = [c for c in complaints if c]
    return "; ".join(found) if found else None
