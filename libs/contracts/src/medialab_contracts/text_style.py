"""How M5 text is drawn: the typed style shared by the gateway, prompt-llm and text-render.

Fields that default to ``None`` are "automatic": text-render decides them from the actual
pixels under the text (colour for contrast, a plate only when contrast would be low, the
offset from the edge, the stroke). Every number is bounded, so a hostile or hallucinated
value is refused at the boundary instead of reaching Pillow.
"""

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_HEX_RE = re.compile(r"^#?([0-9a-f]{3}|[0-9a-f]{6})$")


class SizeWord(StrEnum):
    """Text size relative to the image (Маленький … Огромный)."""

    small = "small"
    medium = "medium"
    normal = "normal"
    large = "large"
    huge = "huge"


class Position(StrEnum):
    top = "top"
    center = "center"  # type: ignore[assignment]  # a member named like str.center: mypy objects
    bottom = "bottom"


class Align(StrEnum):
    left = "left"
    center = "center"  # type: ignore[assignment]  # a member named like str.center: mypy objects
    right = "right"


def normalize_hex(value: str) -> str:
    """``"FFF"``, ``"#FfFfFf"`` → ``"#ffffff"``; anything else is refused."""
    match = _HEX_RE.match(value.strip().lower())
    if match is None:
        raise ValueError("colour must be a hex code like #ffcc00")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return f"#{digits}"


HexColor = Annotated[str, Field(max_length=16), AfterValidator(normalize_hex)]
"""A colour as ``#rrggbb`` (lower case)."""


class TextStyle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: SizeWord = SizeWord.normal
    """Size relative to the image; ignored when ``size_px`` is set."""
    size_px: int | None = Field(default=None, ge=8, le=1000)
    """Font size in pixels (em size)."""
    bold: bool = True
    color: HexColor | None = None
    """Text colour; ``None`` = the best contrast against the pixels under the text."""
    position: Position = Position.bottom
    offset_pct: float | None = Field(default=None, ge=0, le=45, allow_inf_nan=False)
    """Distance from the top/bottom edge to the text block, % of the image height;
    ``None`` = a small default margin. Ignored for ``center``."""
    align: Align = Align.center
    max_width_pct: int = Field(default=90, ge=20, le=100)
    """Widest a line may be, % of the image width; longer lines wrap."""
    line_spacing: float = Field(default=1.2, ge=0.8, le=3.0, allow_inf_nan=False)
    """Baseline-to-baseline distance as a multiple of the font size."""
    plate: bool | None = None
    """A rectangle behind the text; ``None`` = only when contrast would be low."""
    plate_color: HexColor | None = None
    plate_opacity_pct: int | None = Field(default=None, ge=0, le=100)
    """100 = opaque; «прозрачность 30%» is 70. ``None`` = just enough for contrast."""
    plate_blur_px: int = Field(default=0, ge=0, le=100)
    """Gaussian blur radius of the picture behind the plate (frosted glass)."""
    stroke: bool | None = None
    """An outline around the letters; ``None`` = only without a plate on a busy background."""
    stroke_width_px: int | None = Field(default=None, ge=1, le=50)
    stroke_color: HexColor | None = None
