"""Image bytes + text + TextStyle → PNG bytes. Pure: no I/O, no network, no global state.

Only the rectangle under the text is touched: the plate, text and emoji are drawn in place
on the decoded picture, and the background is sampled from that rectangle alone. The whole
picture is never copied (nor converted to RGBA), so a 40 MP input costs about one decoded
copy of memory.
"""

import math
from dataclasses import dataclass

from medialab_contracts.text_style import Align, Position, SizeWord, TextStyle
from PIL import Image, ImageDraw, ImageFilter

from text_render.contrast import RGB, ColorPlan, plan_colors, sample_pixels
from text_render.emoji_source import emoji_image
from text_render.errors import EmptyText, TextTooLong
from text_render.image_io import MAX_INPUT_BYTES, MAX_INPUT_PIXELS, crop_to, load_image
from text_render.layout import MIN_FONT_SIZE, TextLayout, fit_text
from text_render.png import encode_png

SIZE_FRACTION = {
    SizeWord.small: 0.035,
    SizeWord.medium: 0.05,
    SizeWord.normal: 0.06,
    SizeWord.large: 0.08,
    SizeWord.huge: 0.12,
}
"""Font size as a share of the image's shorter side."""
DEFAULT_OFFSET_PCT = 5.0
MIN_MARGIN_PCT = 2.0
PLATE_PAD_X = 0.5
PLATE_PAD_Y = 0.3
PLATE_RADIUS = 0.25
STROKE_FRACTION = 0.06
MAX_TEXT_CHARS = 1000

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_INPUT_BYTES
    max_pixels: int = MAX_INPUT_PIXELS
    max_text_chars: int = MAX_TEXT_CHARS


@dataclass(frozen=True)
class Rendered:
    png: bytes
    size: tuple[int, int]
    font_size: int
    lines: tuple[str, ...]
    text_box: Box
    """Where the letters and emoji are (stroke excluded), in image pixels."""
    plate_box: Box | None
    colors: ColorPlan


def normalize_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Unify line breaks, drop trailing spaces and blank edge lines; refuse empty or huge text."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    cleaned = "\n".join(lines).strip("\n")
    if not cleaned.strip():
        raise EmptyText("nothing to draw")
    if len(cleaned) > max_chars:
        raise TextTooLong(f"{len(cleaned)} characters > {max_chars}")
    return cleaned


def base_font_size(style: TextStyle, image_size: tuple[int, int]) -> int:
    if style.size_px is not None:
        return style.size_px
    return max(MIN_FONT_SIZE, round(min(image_size) * SIZE_FRACTION[style.size]))


@dataclass(frozen=True)
class _Chrome:
    """Room around the ink at a given font size: plate padding and stroke."""

    style: TextStyle

    def stroke(self, size: int) -> int:
        if self.style.stroke is False:
            return 0
        return self.style.stroke_width_px or max(1, round(size * STROKE_FRACTION))

    def pad(self, size: int) -> tuple[int, int]:
        if self.style.plate is False:
            return 0, 0
        return round(size * PLATE_PAD_X), round(size * PLATE_PAD_Y)

    def __call__(self, size: int) -> tuple[float, float]:
        pad_x, pad_y = self.pad(size)
        stroke = self.stroke(size)
        return 2 * (pad_x + stroke), 2 * (pad_y + stroke)


def _outer_origin(
    style: TextStyle, image_size: tuple[int, int], outer: tuple[float, float]
) -> tuple[float, float]:
    """Top-left corner of the text block with its padding."""
    width, height = image_size
    outer_w, outer_h = outer
    span = width * style.max_width_pct / 100
    left = {
        Align.left: (width - span) / 2,
        Align.center: (width - outer_w) / 2,
        Align.right: (width + span) / 2 - outer_w,
    }[style.align]
    offset = height * (style.offset_pct if style.offset_pct is not None else DEFAULT_OFFSET_PCT) / 100
    top = {
        Position.top: offset,
        Position.center: (height - outer_h) / 2,
        Position.bottom: height - offset - outer_h,
    }[style.position]
    return min(max(0.0, left), width - outer_w), min(max(0.0, top), height - outer_h)


def _max_height(style: TextStyle, height: int) -> float:
    margin = height * MIN_MARGIN_PCT / 100
    if style.position is Position.center:
        return height - 2 * margin
    offset = height * (style.offset_pct if style.offset_pct is not None else DEFAULT_OFFSET_PCT) / 100
    return height - offset - margin


def _blurred_backdrop(image: Image.Image, box: Box, radius: int) -> Image.Image:
    """The picture under ``box`` blurred, using a margin around it so the edges blur right."""
    margin = 3 * radius
    outer = (
        max(0, box[0] - margin),
        max(0, box[1] - margin),
        min(image.width, box[2] + margin),
        min(image.height, box[3] + margin),
    )
    blurred = image.crop(outer).filter(ImageFilter.GaussianBlur(radius))
    dx, dy = box[0] - outer[0], box[1] - outer[1]
    return blurred.crop((dx, dy, dx + box[2] - box[0], dy + box[3] - box[1]))


def _rounded_mask(size: tuple[int, int], radius: int, value: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=radius, fill=value)
    return mask


def _fill(color: RGB, mode: str) -> tuple[int, ...]:
    return (*color, 255) if mode == "RGBA" else color


def _draw_text(
    image: Image.Image,
    layout: TextLayout,
    origin: tuple[float, float],
    style: TextStyle,
    plan: ColorPlan,
    stroke_width: int,
) -> None:
    """Draw every line on ``image``; ``origin`` is the block's left end of the first baseline."""
    draw = ImageDraw.Draw(image)
    font = layout.font
    fill = _fill(plan.text, image.mode)
    stroke_fill = _fill(plan.stroke, image.mode) if plan.stroke else None
    block_width = layout.width
    for i, line in enumerate(layout.lines):
        shift = {
            Align.left: 0.0,
            Align.center: (block_width - line.width) / 2,
            Align.right: block_width - line.width,
        }
        x0 = origin[0] + shift[style.align]
        baseline = origin[1] + i * layout.line_height
        for run in line.runs:
            if run.is_emoji:
                picture = emoji_image(run.content, layout.emoji_size)
                at = (round(x0 + run.x + layout.emoji_gap), round(baseline + layout.emoji_top))
                image.paste(picture, at, picture)
            elif run.content.strip():
                draw.text(
                    (x0 + run.x, baseline),
                    run.content,
                    font=font,
                    fill=fill,
                    anchor="ls",
                    stroke_width=stroke_width if stroke_fill else 0,
                    stroke_fill=stroke_fill,
                )


def render_detailed(
    image_bytes: bytes,
    text: str,
    style: TextStyle,
    limits: Limits = Limits(),
    canvas: tuple[int, int] | None = None,
) -> Rendered:
    """``canvas``: the size to crop the picture to before the text is laid out (a marketplace preset)."""
    text = normalize_text(text, limits.max_text_chars)
    loaded = load_image(image_bytes, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
    image = loaded.image if canvas is None else crop_to(loaded.image, canvas, limits.max_pixels)
    width, height = image.size
    chrome = _Chrome(style)
    layout = fit_text(
        text,
        font_size=base_font_size(style, image.size),
        bold=style.bold,
        line_spacing=style.line_spacing,
        max_width=width * style.max_width_pct / 100,
        max_height=_max_height(style, height),
        chrome=chrome,
    )
    size = layout.font_size
    (pad_x, pad_y), stroke = chrome.pad(size), chrome.stroke(size)
    extra_w, extra_h = chrome(size)
    outer_left, outer_top = _outer_origin(
        style, image.size, (layout.width + extra_w, layout.height + extra_h)
    )
    outer = (outer_left, outer_top, outer_left + layout.width + extra_w, outer_top + layout.height + extra_h)
    box: Box = (
        math.floor(outer[0]),
        math.floor(outer[1]),
        min(width, math.ceil(outer[2])),
        min(height, math.ceil(outer[3])),
    )
    plan = plan_colors(sample_pixels(image, box), style)

    plate_box: Box | None = None
    if plan.plate is not None:
        plate_box = box
        plate_size = (box[2] - box[0], box[3] - box[1])
        radius = round(size * PLATE_RADIUS)
        if style.plate_blur_px:
            image.paste(
                _blurred_backdrop(image, box, style.plate_blur_px),
                box,
                _rounded_mask(plate_size, radius, 255),
            )
        alpha = round(255 * plan.plate_alpha)
        image.paste(_fill(plan.plate, image.mode), box, _rounded_mask(plate_size, radius, alpha))

    # The block's left end of the first baseline.
    origin = (outer_left + pad_x + stroke, outer_top + pad_y + stroke - layout.ink_top)
    _draw_text(image, layout, origin, style, plan, stroke)

    ink_left = outer_left + pad_x + stroke
    ink_top = outer_top + pad_y + stroke
    text_box: Box = (
        math.floor(ink_left),
        math.floor(ink_top),
        math.ceil(ink_left + layout.width),
        math.ceil(ink_top + layout.height),
    )
    return Rendered(
        png=encode_png(image, loaded.icc_profile),
        size=image.size,
        font_size=size,
        lines=tuple(line.text for line in layout.lines),
        text_box=text_box,
        plate_box=plate_box,
        colors=plan,
    )


def render(image_bytes: bytes, text: str, style: TextStyle, limits: Limits = Limits()) -> bytes:
    """The picture with ``text`` drawn on it, as PNG bytes. Raises a ``RenderError`` subclass
    for input that cannot be rendered (see ``text_render.errors``)."""
    return render_detailed(image_bytes, text, style, limits).png
