"""Message text plus entities → safe HTML for the web chat, the way Telegram clients draw it.

The emulator keeps what a bot sent as Telegram does: plain text and entities (parse_mode HTML was
already parsed, and refused if it used a tag Telegram does not allow). Drawing from that instead of
from the bot's source means every character of the text is escaped and the only markup is what the
entity table below produces; links keep only http(s), tg and mailto addresses.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_SAFE_SCHEMES = frozenset({"http", "https", "tg", "mailto"})

# Entity type → (tag, class); entities not named here add no markup (mentions, hashtags, ...).
_TAGS: dict[str, tuple[str, str | None]] = {
    "bold": ("b", None),
    "italic": ("i", None),
    "underline": ("u", None),
    "strikethrough": ("s", None),
    "spoiler": ("span", "tg-spoiler"),
    "code": ("code", None),
    "pre": ("pre", None),
    "blockquote": ("blockquote", None),
    "expandable_blockquote": ("blockquote", "expandable"),
    "text_link": ("a", None),
    "url": ("a", None),
    "bot_command": ("span", "tg-command"),
}


@dataclass(frozen=True)
class _Span:
    start: int  # in UTF-16 code units, like Telegram's offsets
    end: int
    opening: str
    closing: str


def entities_to_html(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """HTML for ``text`` with its Telegram ``entities`` (UTF-16 offsets); every character escaped."""
    units = text.encode("utf-16-le")
    length = len(units) // 2
    spans = sorted(
        (span for entity in entities if (span := _span(entity, units, length)) is not None),
        key=lambda span: (span.start, -span.end),
    )
    cuts = sorted({0, length, *(s.start for s in spans), *(s.end for s in spans)})
    out: list[str] = []
    open_spans: list[_Span] = []
    for start, end in itertools.pairwise(cuts):
        wanted = [span for span in spans if span.start <= start and end <= span.end]
        # Close down to the longest prefix still wanted, then open the rest: overlapping
        # entities are split rather than producing crossed tags.
        keep = 0
        while keep < min(len(open_spans), len(wanted)) and open_spans[keep] is wanted[keep]:
            keep += 1
        out.extend(span.closing for span in reversed(open_spans[keep:]))
        out.extend(span.opening for span in wanted[keep:])
        open_spans = wanted
        out.append(html.escape(_slice(units, start, end)))
    out.extend(span.closing for span in reversed(open_spans))
    return "".join(out)


def _slice(units: bytes, start: int, end: int) -> str:
    return units[start * 2 : end * 2].decode("utf-16-le", errors="replace")


def _span(entity: Mapping[str, Any], units: bytes, length: int) -> _Span | None:
    tag_and_class = _TAGS.get(str(entity.get("type")))
    offset, size = entity.get("offset"), entity.get("length")
    if tag_and_class is None or not isinstance(offset, int) or not isinstance(size, int):
        return None
    start, end = max(offset, 0), min(offset + size, length)
    if start >= end:
        return None
    tag, css_class = tag_and_class
    attributes = f' class="{css_class}"' if css_class else ""
    if tag == "a":
        if entity.get("type") == "text_link":
            target = entity.get("url")
        else:  # a bare address in the text; Telegram links "example.com" as http
            shown = _slice(units, start, end)
            target = shown if "://" in shown or shown.startswith("mailto:") else f"http://{shown}"
        if not _safe_url(target):
            return None
        attributes = f' href="{html.escape(str(target))}" target="_blank" rel="noopener noreferrer"'
    elif tag == "pre" and entity.get("language"):
        attributes = f' data-language="{html.escape(str(entity["language"]))}"'
    return _Span(start, end, f"<{tag}{attributes}>", f"</{tag}>")


def _safe_url(url: Any) -> bool:
    if not isinstance(url, str) or not url:
        return False
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return False
    return scheme in _SAFE_SCHEMES
