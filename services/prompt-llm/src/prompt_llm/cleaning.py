"""Harmless repairs of an LLM answer before it is validated: code fences, prefaces such as
"Here is the translation:", trailing notes, quotes around the whole text, markdown emphasis.

Only wrapping is removed; the content itself is never rewritten. Whatever is still wrong after
cleaning is left for the validators (and a repair call).
"""

from __future__ import annotations

import re

_FENCE_RE = re.compile(r"```[ \t]*[\w-]*[ \t]*\n(?P<body>.*?)\n?[ \t]*```", re.DOTALL)

# A first line that only announces the answer: "Here is the translation:", "Translation:",
# "Вот подробный промпт:", "Sure! Here you go:". It has to end with a colon to be dropped, so
# a real first sentence is never lost.
_PREFACE_LINE_RE = re.compile(r"^[^\n]{0,100}:\s*$")
_PREFACE_WORD_RE = re.compile(
    r"(?<!\w)(?:here|below|sure|certainly|translation|translated|prompt|вот|ниже|конечно|перевод\w*|промпт\w*)(?!\w)",
    re.IGNORECASE,
)
# "Translation: a red fox" on one line: the label goes, the text stays.
_INLINE_LABEL_RE = re.compile(
    r"^\s*(?:english\s+)?(?:translation|перевод|промпт|prompt)\s*:\s*(?=\S)", re.IGNORECASE
)
# A trailing paragraph that comments on the answer instead of being part of it.
_TRAILING_NOTE_RE = re.compile(
    r"\n\s*\n\s*(?:\(?(?:notes?|примечание|пояснение)\s*:|\((?:notes?|примечание)\b"
    r"|(?:this\s+prompt|этот\s+промпт|i\s+(?:have|kept|translated))\b).*\Z",
    re.IGNORECASE | re.DOTALL,
)
_QUOTE_PAIRS = {'"': '"', "«": "»", "“": "”", "'": "'", "„": "“"}
_EMPHASIS_RE = re.compile(r"(\*\*|__)(?P<inner>.+?)\1", re.DOTALL)
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)


def strip_fences(text: str) -> str:
    """The body of the first fenced block when the answer has one, else the text itself."""
    match = _FENCE_RE.search(text)
    return match.group("body").strip() if match else text.strip()


def strip_preface(text: str) -> str:
    first, sep, rest = text.strip().partition("\n")
    if sep and _PREFACE_LINE_RE.match(first) and _PREFACE_WORD_RE.search(first):
        text = rest
    return _INLINE_LABEL_RE.sub("", text.strip(), count=1).strip()


def strip_trailing_note(text: str) -> str:
    return _TRAILING_NOTE_RE.sub("", text).strip()


def strip_wrapping_quotes(text: str, source: str = "") -> str:
    """``"a cat"`` → ``a cat``, unless the quotes are the source's own or quote only a part."""
    text = text.strip()
    if len(text) < 2 or text[0] not in _QUOTE_PAIRS or text[-1] != _QUOTE_PAIRS[text[0]]:
        return text
    inner = text[1:-1]
    source = source.strip()
    if source[:1] in _QUOTE_PAIRS or text[0] in inner or text[-1] in inner:
        return text
    return inner.strip()


def strip_markdown(text: str) -> str:
    return _HEADING_RE.sub("", _EMPHASIS_RE.sub(r"\g<inner>", text))


def clean_prose(text: str, source: str = "") -> str:
    """Everything above, for answers that should be plain text (a prompt, a translation)."""
    text = strip_fences(text)
    text = strip_preface(text)
    text = strip_trailing_note(text)
    text = strip_wrapping_quotes(text, source)
    return strip_markdown(text).strip()


def extract_json_text(text: str) -> str:
    """The JSON part of an answer: a fenced block's body, else from the first ``{`` to the last ``}``."""
    body = strip_fences(text)
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        return body[start : end + 1]
    return body
