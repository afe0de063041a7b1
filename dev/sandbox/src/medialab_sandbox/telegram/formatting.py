"""Turn (text, parse_mode, entities) into plain text plus entities, the way Telegram does.

Entity offsets and lengths are in UTF-16 code units, like Telegram's. Parse errors carry
Telegram's own wording ("can't parse entities: ...").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError

from .errors import TelegramError, bad_request
from .objects import MessageEntity

_ENTITY_LIST = TypeAdapter(list[MessageEntity])
_COMMAND = re.compile(r"(?:(?<=\s)|^)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class FormattedText:
    text: str
    entities: list[MessageEntity] = field(default_factory=list)

    @property
    def length(self) -> int:
        return utf16_len(self.text)


def format_text(raw: str | None, parse_mode: str | None, entities: Any) -> FormattedText:
    """Parse a message text or caption; explicit ``entities`` win over ``parse_mode``."""
    raw = raw or ""
    if entities is not None:
        parsed = FormattedText(raw, _entities_from_json(entities, utf16_len(raw)))
    elif parse_mode:
        parsed = _parse(raw, parse_mode)
    else:
        parsed = FormattedText(raw)
    return _strip(parsed)


def command_entities(text: str) -> list[MessageEntity]:
    """bot_command entities Telegram attaches to a user's text."""
    return [
        MessageEntity(
            type="bot_command",
            offset=utf16_len(text[: match.start()]),
            length=utf16_len(match.group()),
        )
        for match in _COMMAND.finditer(text)
    ]


def _parse(raw: str, parse_mode: str) -> FormattedText:
    mode = parse_mode.lower()
    if mode == "html":
        return _HtmlParser(raw).parse()
    if mode == "markdownv2":
        return _MarkdownV2Parser(raw).parse()
    if mode == "markdown":
        return _MarkdownParser(raw).parse()
    raise bad_request(f"unsupported parse_mode {parse_mode}")


def _entities_from_json(value: Any, text_length: int) -> list[MessageEntity]:
    try:
        data = json.loads(value) if isinstance(value, str) else value
        entities = _ENTITY_LIST.validate_python(data)
    except (ValueError, ValidationError):
        raise bad_request("can't parse entities JSON object") from None
    # Telegram silently drops entities that point outside the text.
    return [e for e in entities if e.offset + e.length <= text_length]


def _strip(formatted: FormattedText) -> FormattedText:
    """Telegram trims leading and trailing whitespace and clips entities to what is left."""
    text = formatted.text
    stripped = text.strip()
    if stripped == text:
        return formatted
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    entities: list[MessageEntity] = []
    for entity in formatted.entities:
        start = max(entity.offset - shift, 0)
        stop = min(entity.offset + entity.length - shift, end)
        if stop > start:
            entities.append(entity.model_copy(update={"offset": start, "length": stop - start}))
    return FormattedText(stripped, entities)


def _entity_error(reason: str) -> TelegramError:
    return bad_request(f"can't parse entities: {reason}")


class _Output:
    """Accumulates plain text and tracks the current UTF-16 offset."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.offset = 0
        self.entities: list[MessageEntity] = []

    def add(self, text: str) -> None:
        self._parts.append(text)
        self.offset += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: str) -> None:
        if self.offset > start:
            self.entities.append(MessageEntity(type=kind, offset=start, length=self.offset - start, **extra))

    def result(self) -> FormattedText:
        entities = sorted(self.entities, key=lambda e: (e.offset, -e.length))
        return FormattedText("".join(self._parts), entities)


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


_HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_TAG_NAME = re.compile(r"[a-zA-Z0-9-]*")
_ATTRIBUTE = re.compile(r"\s*([a-zA-Z-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


def _decode_html_entities(text: str) -> str:
    return _HTML_ENTITY.sub(lambda m: _html_entity_value(m) or m.group(), text)


def _html_entity_value(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_HTML_ENTITIES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return chr(code) if 0 < code <= 0x10FFFF else None


@dataclass
class _OpenTag:
    name: str
    start: int
    attributes: dict[str, str]
    language: str | None = None


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.out = _Output()
        self.stack: list[_OpenTag] = []

    def parse(self) -> FormattedText:
        src, i = self.source, 0
        while i < len(src):
            char = src[i]
            if char == "&":
                match = _HTML_ENTITY.match(src, i)
                value = _html_entity_value(match) if match else None
                if match and value is not None:
                    self.out.add(value)
                    i = match.end()
                    continue
            if char != "<":
                self.out.add(char)
                i += 1
                continue
            end = src.find(">", i)
            if end == -1:
                raise _entity_error(f"Unclosed start tag at byte offset {_byte_offset(src, i)}")
            self._tag(src[i + 1 : end], _byte_offset(src, i))
            i = end + 1
        if self.stack:
            raise _entity_error(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        return self.out.result()

    def _tag(self, inner: str, byte_pos: int) -> None:
        if inner.startswith("/"):
            self._close(inner[1:].strip().lower(), byte_pos)
            return
        name_match = _TAG_NAME.match(inner)
        name = name_match.group().lower() if name_match else ""
        attributes = {
            key.lower(): _decode_html_entities(value.strip("\"'")) if value else ""
            for key, value in _ATTRIBUTE.findall(inner[len(name) :])
        }
        spoiler_span = name == "span" and attributes.get("class") == "tg-spoiler"
        if name not in _HTML_TAGS or (name == "span" and not spoiler_span):
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {byte_pos}')
        self.stack.append(_OpenTag(name, self.out.offset, attributes))

    def _close(self, name: str, byte_pos: int) -> None:
        if not self.stack:
            raise _entity_error(f"Unexpected end tag at byte offset {byte_pos}")
        tag = self.stack.pop()
        if tag.name != name:
            raise _entity_error(
                f'Unmatched end tag at byte offset {byte_pos}, expected "</{tag.name}>", found "</{name}>"'
            )
        kind = _HTML_TAGS[name]
        css_class = tag.attributes.get("class", "")
        if name == "code" and self.stack and self.stack[-1].name == "pre":
            if css_class.startswith("language-"):
                self.stack[-1].language = css_class.removeprefix("language-")
                return
        if kind == "text_link":
            if tag.attributes.get("href"):
                self.out.entity(kind, tag.start, url=tag.attributes["href"])
        elif kind == "custom_emoji":
            self.out.entity(kind, tag.start, custom_emoji_id=tag.attributes.get("emoji-id", ""))
        elif kind == "pre" and tag.language:
            self.out.entity(kind, tag.start, language=tag.language)
        elif kind == "blockquote" and "expandable" in tag.attributes:
            self.out.entity("expandable_blockquote", tag.start)
        else:
            self.out.entity(kind, tag.start)


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


@dataclass
class _OpenMarker:
    kind: str
    start: int
    byte_pos: int


class _MarkdownV2Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.out = _Output()
        self.stack: list[_OpenMarker] = []
        self.quote_start: int | None = None

    def parse(self) -> FormattedText:
        src, i = self.src, 0
        while i < len(src):
            if i == 0 or src[i - 1] == "\n":
                i = self._line_start(i)
                if i >= len(src):
                    break
            char = src[i]
            if char == "\\" and i + 1 < len(src) and 0 < ord(src[i + 1]) <= 126:
                self.out.add(src[i + 1])
                i += 2
            elif char == "`":
                i = self._code(i)
            elif char == "!" and src.startswith("![", i):
                self.stack.append(_OpenMarker("custom_emoji", self.out.offset, _byte_offset(src, i)))
                i += 2
            elif char in "*_~|[]":
                i = self._marker(i)
            elif char in _MD2_RESERVED:
                raise _entity_error(
                    f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            else:
                self.out.add(char)
                i += 1
        self._end_quote()
        if self.stack:
            top = self.stack[-1]
            raise _entity_error(
                f"Can't find end of {_MD2_NAMES[top.kind]} entity at byte offset {top.byte_pos}"
            )
        return self.out.result()

    def _line_start(self, i: int) -> int:
        if self.src.startswith(">", i):
            if self.quote_start is None:
                self.quote_start = self.out.offset
            return i + 1
        self._end_quote()
        return i

    def _end_quote(self) -> None:
        if self.quote_start is not None:
            text_end = self.out.offset
            # The quote ends before the newline that started this line.
            self.out.offset = text_end - 1 if text_end > self.quote_start else text_end
            self.out.entity("blockquote", self.quote_start)
            self.out.offset = text_end
            self.quote_start = None

    def _marker(self, i: int) -> int:
        src = self.src
        char = src[i]
        if char == "]":
            return self._close_link(i)
        if char == "[":
            self.stack.append(_OpenMarker("text_link", self.out.offset, _byte_offset(src, i)))
            return i + 1
        if char == "|":
            if not src.startswith("||", i):
                raise _entity_error("Character '|' is reserved and must be escaped with the preceding '\\'")
            kind, width = "spoiler", 2
        elif char == "_" and src.startswith("__", i):
            kind, width = "underline", 2
        else:
            kind, width = {"*": "bold", "_": "italic", "~": "strikethrough"}[char], 1
        open_kinds = [marker.kind for marker in self.stack]
        if kind not in open_kinds:
            self.stack.append(_OpenMarker(kind, self.out.offset, _byte_offset(src, i)))
        elif self.stack[-1].kind == kind:
            self.out.entity(kind, self.stack.pop().start)
        else:
            top = self.stack[-1]
            raise _entity_error(
                f"Can't find end of {_MD2_NAMES[top.kind]} entity at byte offset {top.byte_pos}"
            )
        return i + width

    def _close_link(self, i: int) -> int:
        src = self.src
        if not self.stack or self.stack[-1].kind not in ("text_link", "custom_emoji"):
            raise _entity_error("Character ']' is reserved and must be escaped with the preceding '\\'")
        marker = self.stack.pop()
        if not src.startswith("(", i + 1):
            if marker.kind == "custom_emoji":
                raise _entity_error("Custom emoji entity must contain a tg://emoji URL")
            return i + 1
        url, end = self._read_until(i + 2, ")", f"TextUrl entity at byte offset {marker.byte_pos}")
        if marker.kind == "custom_emoji":
            emoji_id = url.removeprefix("tg://emoji?id=")
            self.out.entity("custom_emoji", marker.start, custom_emoji_id=emoji_id)
        elif url:
            self.out.entity("text_link", marker.start, url=url)
        return end

    def _code(self, i: int) -> int:
        src, byte_pos = self.src, _byte_offset(self.src, i)
        if src.startswith("```", i):
            body, end = self._read_until(i + 3, "```", f"Pre entity at byte offset {byte_pos}")
            language, newline, code = body.partition("\n")
            if not newline or not language or " " in language:
                language, code = "", body
            start = self.out.offset
            self.out.add(code)
            if language:
                self.out.entity("pre", start, language=language)
            else:
                self.out.entity("pre", start)
            return end
        body, end = self._read_until(i + 1, "`", f"Code entity at byte offset {byte_pos}")
        start = self.out.offset
        self.out.add(body)
        self.out.entity("code", start)
        return end

    def _read_until(self, i: int, terminator: str, what: str) -> tuple[str, int]:
        """Read escaped text up to ``terminator``; return it and the index after it."""
        src, parts = self.src, []
        while i < len(src):
            if src[i] == "\\" and i + 1 < len(src):
                parts.append(src[i + 1])
                i += 2
            elif src.startswith(terminator, i):
                return "".join(parts), i + len(terminator)
            else:
                parts.append(src[i])
                i += 1
        raise _entity_error(f"Can't find end of {what}")


class _MarkdownParser:
    """Legacy Markdown: no nesting, four markers, links."""

    _KINDS: ClassVar[dict[str, str]] = {"*": "bold", "_": "italic", "`": "code"}

    def __init__(self, source: str) -> None:
        self.src = source
        self.out = _Output()

    def parse(self) -> FormattedText:
        src, i = self.src, 0
        while i < len(src):
            char = src[i]
            if char == "\\" and i + 1 < len(src) and src[i + 1] in "_*`[":
                self.out.add(src[i + 1])
                i += 2
            elif src.startswith("```", i):
                i = self._span(i, "```", "pre")
            elif char in self._KINDS:
                i = self._span(i, char, self._KINDS[char])
            elif char == "[":
                i = self._link(i)
            else:
                self.out.add(char)
                i += 1
        return self.out.result()

    def _span(self, i: int, marker: str, kind: str) -> int:
        end = self.src.find(marker, i + len(marker))
        if end == -1:
            raise self._unclosed(i)
        start = self.out.offset
        self.out.add(self.src[i + len(marker) : end])
        self.out.entity(kind, start)
        return end + len(marker)

    def _link(self, i: int) -> int:
        close = self.src.find("](", i)
        url_end = self.src.find(")", close + 2) if close != -1 else -1
        if close == -1 or url_end == -1:
            raise self._unclosed(i)
        start = self.out.offset
        self.out.add(self.src[i + 1 : close])
        self.out.entity("text_link", start, url=self.src[close + 2 : url_end])
        return url_end + 1

    def _unclosed(self, i: int) -> TelegramError:
        return _entity_error(
            f"Can't find end of the entity starting at byte offset {_byte_offset(self.src, i)}"
        )
