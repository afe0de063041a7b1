"""Lines of text and emoji measured with the real font: wrap by width, shrink until it fits.

Coordinates are relative to the left end of a line and its baseline (y grows downwards).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from PIL import ImageFont

from text_render.emoji_source import Piece, split_line
from text_render.errors import TextTooLong
from text_render.fonts import get_font

MIN_FONT_SIZE = 10
# Emoji geometry as fractions of the font size: a square a bit taller than a capital,
# sitting slightly below the baseline like the descent of a letter, with side bearings.
EMOJI_SCALE = 0.92
EMOJI_DROP = 0.1
EMOJI_GAP = 0.06

_SPACES = re.compile(r"\s+")

Word = tuple[Piece, ...]


@dataclass(frozen=True)
class Run:
    """Something drawn in one call: a text run (may hold spaces) or one emoji."""

    content: str
    is_emoji: bool
    x: float
    width: float


@dataclass(frozen=True)
class Line:
    runs: tuple[Run, ...]
    width: float
    ink: tuple[float, float] | None
    """Top and bottom of what is drawn, relative to the baseline; ``None`` for a blank line."""

    @property
    def text(self) -> str:
        return "".join(run.content for run in self.runs)


@dataclass(frozen=True)
class TextLayout:
    font_size: int
    bold: bool
    lines: tuple[Line, ...]
    line_height: float
    emoji_size: int

    @property
    def font(self) -> ImageFont.FreeTypeFont:
        return get_font(self.font_size, self.bold)

    @property
    def width(self) -> float:
        return max(line.width for line in self.lines)

    @cached_property
    def ink_top(self) -> float:
        """Top of the ink relative to the first baseline."""
        return min(i * self.line_height + line.ink[0] for i, line in enumerate(self.lines) if line.ink)

    @cached_property
    def ink_bottom(self) -> float:
        return max(i * self.line_height + line.ink[1] for i, line in enumerate(self.lines) if line.ink)

    @property
    def height(self) -> float:
        return self.ink_bottom - self.ink_top

    @property
    def emoji_gap(self) -> float:
        return self.font_size * EMOJI_GAP

    @property
    def emoji_top(self) -> float:
        """Top of an emoji relative to the baseline."""
        return self.font_size * EMOJI_DROP - self.emoji_size


class _Measure:
    """Widths at one font size; text is measured piece by piece (BASIC layout is additive)."""

    def __init__(self, font_size: int, bold: bool) -> None:
        self.font = get_font(font_size, bold)
        self.emoji_size = max(1, round(font_size * EMOJI_SCALE))
        self.emoji_advance = self.emoji_size + 2 * font_size * EMOJI_GAP
        self.emoji_ink = (font_size * EMOJI_DROP - self.emoji_size, font_size * EMOJI_DROP)
        self.space = self.font.getlength(" ")

    def piece(self, piece: Piece) -> float:
        return self.emoji_advance if piece.is_emoji else self.font.getlength(piece.content)

    def word(self, word: Word) -> float:
        return sum(self.piece(piece) for piece in word)


def _words(line: str) -> list[Word]:
    """Split on whitespace; an emoji glued to a word stays with it."""
    words: list[list[Piece]] = [[]]
    for piece in split_line(line):
        if piece.is_emoji:
            words[-1].append(piece)
            continue
        for i, chunk in enumerate(_SPACES.split(piece.content)):
            if i:
                words.append([])
            if chunk:
                words[-1].append(Piece(chunk, False))
    return [tuple(word) for word in words if word]


def _units(word: Word) -> list[Piece]:
    """The smallest pieces a word may be broken into: single characters and whole emoji."""
    return [unit for piece in word for unit in ([piece] if piece.is_emoji else map(_char, piece.content))]


def _char(ch: str) -> Piece:
    return Piece(ch, False)


def _join(units: list[Piece]) -> Word:
    merged: list[Piece] = []
    for unit in units:
        if merged and not unit.is_emoji and not merged[-1].is_emoji:
            merged[-1] = Piece(merged[-1].content + unit.content, False)
        else:
            merged.append(unit)
    return tuple(merged)


def _break_word(word: Word, max_width: float, measure: _Measure) -> list[Word]:
    """A word wider than a line, cut into line-wide chunks (at least one unit each)."""
    chunks: list[list[Piece]] = [[]]
    width = 0.0
    for unit in _units(word):
        unit_width = measure.piece(unit)
        if chunks[-1] and width + unit_width > max_width:
            chunks.append([])
            width = 0.0
        chunks[-1].append(unit)
        width += unit_width
    return [_join(chunk) for chunk in chunks]


def _wrap(words: list[Word], max_width: float, measure: _Measure) -> list[list[Word]]:
    lines: list[list[Word]] = [[]]
    width = 0.0
    for word in words:
        word_width = measure.word(word)
        chunks = [word] if word_width <= max_width else _break_word(word, max_width, measure)
        for chunk in chunks:
            chunk_width = measure.word(chunk)
            if lines[-1] and width + measure.space + chunk_width > max_width:
                lines.append([])
                width = 0.0
            width += chunk_width + (measure.space if lines[-1] else 0.0)
            lines[-1].append(chunk)
    return lines


def _build_line(words: list[Word], measure: _Measure) -> Line:
    pieces: list[Piece] = []
    for i, word in enumerate(words):
        if i:
            pieces.append(Piece(" ", False))
        pieces.extend(word)
    runs: list[Run] = []
    x = 0.0
    top: float | None = None
    bottom: float | None = None
    for piece in _join(pieces):
        width = measure.piece(piece)
        runs.append(Run(piece.content, piece.is_emoji, x, width))
        x += width
        if piece.is_emoji:
            ink = measure.emoji_ink
        elif piece.content.strip():
            _, y0, _, y1 = measure.font.getbbox(piece.content, anchor="ls")
            ink = (float(y0), float(y1))
        else:
            continue
        top = ink[0] if top is None else min(top, ink[0])
        bottom = ink[1] if bottom is None else max(bottom, ink[1])
    return Line(tuple(runs), x, None if top is None or bottom is None else (top, bottom))


def layout_text(
    text: str, *, font_size: int, bold: bool, max_width: float, line_spacing: float
) -> TextLayout:
    """Lay ``text`` out at ``font_size``: explicit line breaks kept, long lines wrapped by
    measured width to ``max_width``. ``text`` must hold something visible."""
    measure = _Measure(font_size, bold)
    lines: list[Line] = []
    for paragraph in text.splitlines():
        wrapped = _wrap(_words(paragraph), max_width, measure)
        lines.extend(_build_line(words, measure) for words in wrapped)
    if not any(line.ink for line in lines):
        raise ValueError("nothing visible to lay out")
    return TextLayout(font_size, bold, tuple(lines), font_size * line_spacing, measure.emoji_size)


def fit_text(
    text: str,
    *,
    font_size: int,
    bold: bool,
    line_spacing: float,
    max_width: float,
    max_height: float,
    chrome: Callable[[int], tuple[float, float]],
    min_font_size: int = MIN_FONT_SIZE,
) -> TextLayout:
    """The layout at ``font_size``, or at the largest smaller size whose block fits.

    ``chrome(size)`` is the extra width and height around the ink at that size (plate
    padding, stroke). Text is shrunk, never clipped; if even ``min_font_size`` does not fit,
    ``TextTooLong`` is raised.
    """
    cache: dict[int, TextLayout | None] = {}

    def fitting(size: int) -> TextLayout | None:
        if size not in cache:
            extra_w, extra_h = chrome(size)
            layout = layout_text(
                text, font_size=size, bold=bold, max_width=max_width - extra_w, line_spacing=line_spacing
            )
            fits = layout.width + extra_w <= max_width and layout.height + extra_h <= max_height
            cache[size] = layout if fits else None
        return cache[size]

    if (layout := fitting(font_size)) is not None:
        return layout
    low = min(min_font_size, font_size)
    best = fitting(low)
    if best is None:
        raise TextTooLong("the text does not fit even at the smallest size")
    high = font_size  # invariant: ``low`` fits (its layout is ``best``), ``high`` does not
    while high - low > 1:
        mid = (low + high) // 2
        layout = fitting(mid)
        if layout is None:
            high = mid
        else:
            low, best = mid, layout
    return best
