"""Noto Sans (full Cyrillic), shipped as the ``fontpkg-noto-sans`` wheel: one variable font file
whose weight axis gives both the regular and the bold face."""

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from PIL import ImageFont

FONT_PATH = Path(str(files("fontpkg_noto_sans") / "files" / "NotoSans[wdth,wght].ttf"))
REGULAR_WEIGHT = 400
BOLD_WEIGHT = 700


@lru_cache(maxsize=32)
def get_font(size: int, bold: bool) -> ImageFont.FreeTypeFont:
    """A cached font at ``size`` px. BASIC layout keeps widths additive (no kerning across
    runs), so a line measured piece by piece is exactly as wide as it is drawn."""
    font = ImageFont.truetype(FONT_PATH, size, layout_engine=ImageFont.Layout.BASIC)
    weight = BOLD_WEIGHT if bold else REGULAR_WEIGHT
    # Pillow types an axis' default as optional; a variable font's axes all have one.
    axes: list[float] = [
        weight if axis["name"] == b"Weight" else axis["default"] or 0 for axis in font.get_variation_axes()
    ]
    font.set_variation_by_axes(axes)
    return font
