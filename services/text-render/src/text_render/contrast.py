"""Colours chosen from the real pixels under the text so that it reads: WCAG 2 contrast.

The background is point-sampled (not averaged: averaging a busy photo would hide the
bright and dark spots the letters actually sit on), and a choice must hold for all but
the worst ``WORST_SHARE`` of the samples.
"""

from dataclasses import dataclass

from medialab_contracts.text_style import TextStyle
from PIL import Image

RGB = tuple[int, int, int]

MIN_CONTRAST = 4.5
WORST_SHARE = 0.02
MIN_PLATE_ALPHA = 0.5
"""An automatic plate is never fainter than this: below it, it reads as a smudge."""
_ALPHA_STEP = 0.05
_SAMPLE_SIDE = 40
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


_LINEAR = tuple(_linear(c) for c in range(256))


def parse_hex(color: str) -> RGB:
    """``"#rrggbb"`` → ``(r, g, b)``."""
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


def relative_luminance(rgb: RGB) -> float:
    return 0.2126 * _LINEAR[rgb[0]] + 0.7152 * _LINEAR[rgb[1]] + 0.0722 * _LINEAR[rgb[2]]


def contrast_ratio(a: RGB, b: RGB) -> float:
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def sample_pixels(
    image: Image.Image, box: tuple[int, int, int, int], max_side: int = _SAMPLE_SIDE
) -> list[RGB]:
    """Point samples on a grid of at most ``max_side``² over ``box`` of ``image`` (alpha ignored)."""
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    scale = min(1.0, max_side / max(box_w, box_h))
    size = (max(1, round(box_w * scale)), max(1, round(box_h * scale)))
    small = image.resize(size, Image.Resampling.NEAREST, box=box)
    data = small.convert("RGB").tobytes()
    return list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def blend(background: RGB, color: RGB, alpha: float) -> RGB:
    """``color`` at ``alpha`` over ``background``, as Pillow composites it (sRGB values)."""
    keep = 1.0 - alpha
    return (
        round(color[0] * alpha + background[0] * keep),
        round(color[1] * alpha + background[1] * keep),
        round(color[2] * alpha + background[2] * keep),
    )


def worst_contrast(text: RGB, backgrounds: list[RGB]) -> float:
    """The contrast that all but the worst ``WORST_SHARE`` of ``backgrounds`` reach."""
    lt = relative_luminance(text) + 0.05
    ratios = sorted(max(lt, lb) / min(lt, lb) for lb in (relative_luminance(bg) + 0.05 for bg in backgrounds))
    return ratios[int(len(ratios) * WORST_SHARE)]


def _plated(backgrounds: list[RGB], plate: RGB, alpha: float) -> list[RGB]:
    return [blend(bg, plate, alpha) for bg in backgrounds]


def opposite(color: RGB) -> RGB:
    """Black or white, whichever stands out more against ``color``."""
    return BLACK if contrast_ratio(color, BLACK) >= contrast_ratio(color, WHITE) else WHITE


@dataclass(frozen=True)
class ColorPlan:
    text: RGB
    plate: RGB | None
    plate_alpha: float
    stroke: RGB | None
    contrast: float
    """What the text reaches against the (plated) background, all but the worst 2 %."""


def _auto_alpha(text: RGB, plate: RGB, backgrounds: list[RGB]) -> tuple[float, float]:
    """The faintest plate (from ``MIN_PLATE_ALPHA`` up) that reaches ``MIN_CONTRAST``,
    or, if none does, the alpha that comes closest."""
    best = (MIN_PLATE_ALPHA, -1.0)
    steps = round((1.0 - MIN_PLATE_ALPHA) / _ALPHA_STEP)
    for i in range(steps + 1):
        alpha = round(MIN_PLATE_ALPHA + i * _ALPHA_STEP, 2)
        score = worst_contrast(text, _plated(backgrounds, plate, alpha))
        if score >= MIN_CONTRAST:
            return alpha, score
        if score > best[1]:
            best = (alpha, score)
    return best


def _stroke(style: TextStyle, text: RGB, low_contrast: bool) -> RGB | None:
    wanted = style.stroke if style.stroke is not None else low_contrast
    if not wanted:
        return None
    return parse_hex(style.stroke_color) if style.stroke_color else opposite(text)


def plan_colors(backgrounds: list[RGB], style: TextStyle) -> ColorPlan:
    """Text, plate and stroke colours for ``style`` over ``backgrounds``.

    What the user asked for is kept; what is automatic is chosen for contrast: the text
    colour (white or black), a plate only when the text alone would not reach
    ``MIN_CONTRAST`` (its colour opposite the text, its opacity just enough), and with the
    plate refused, an outline instead.
    """
    texts = [parse_hex(style.color)] if style.color else [WHITE, BLACK]
    if style.plate is not True:
        scored = [(worst_contrast(text, backgrounds), text) for text in texts]
        score, text = max(scored)
        if style.plate is False or score >= MIN_CONTRAST:
            low = style.plate is False and score < MIN_CONTRAST
            return ColorPlan(text, None, 0.0, _stroke(style, text, low), score)
    candidates: list[ColorPlan] = []
    for text in texts:
        plate = parse_hex(style.plate_color) if style.plate_color else opposite(text)
        if style.plate_opacity_pct is not None:
            alpha = style.plate_opacity_pct / 100
            score = worst_contrast(text, _plated(backgrounds, plate, alpha))
        else:
            alpha, score = _auto_alpha(text, plate, backgrounds)
        candidates.append(ColorPlan(text, plate, alpha, _stroke(style, text, False), score))
    # Prefer a readable pair, then the lighter plate, then the stronger contrast.
    return max(candidates, key=lambda c: (c.contrast >= MIN_CONTRAST, -c.plate_alpha, c.contrast))
