"""Output sizes and cheap but real images (solid colour plus a few shapes) made with Pillow."""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw

ImageFormat = Literal["png", "jpeg", "webp"]

CONTENT_TYPES: dict[ImageFormat, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
EXTENSIONS: dict[ImageFormat, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}

# fal toolkit presets (fal.md §8).
SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

# Nano-banana (Gemini 2.5 Flash Image) answers one fixed size per aspect ratio, about 1 MP.
ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
# Nano Banana Pro (Gemini 3 Pro Image) has its own sizes at 1K, doubled per side at 2K and again at 4K
# (Google's image generation docs list every pair: 3:4 896×1200, 1792×2400, 3584×4800).
PRO_ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
RESOLUTION_SCALE: dict[str, int] = {"1K": 1, "2K": 2, "4K": 4}


@dataclass(frozen=True)
class ProbedImage:
    width: int
    height: int
    format: str  # Pillow's name: "PNG", "JPEG", "WEBP", ...


def probe(data: bytes) -> ProbedImage:
    """Read size and format without decoding pixels; raises on anything that is not an image."""
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        return ProbedImage(width=image.width, height=image.height, format=image.format or "")


def closest_aspect(width: int, height: int) -> str:
    """The aspect-ratio key of ``ASPECT_SIZES`` closest to ``width:height`` (log scale)."""
    target = math.log(width / height)
    return min(ASPECT_SIZES, key=lambda key: abs(math.log(_ratio(key)) - target))


def aspect_size(aspect: str) -> tuple[int, int]:
    return ASPECT_SIZES[aspect]


def pro_aspect_size(aspect: str, resolution: str) -> tuple[int, int]:
    width, height = PRO_ASPECT_SIZES[aspect]
    scale = RESOLUTION_SCALE[resolution]
    return width * scale, height * scale


def fit_area(width: int, height: int, min_area: int, max_area: int) -> tuple[int, int]:
    """Scale ``width``×``height`` keeping its aspect so the pixel count lies in the bounds."""
    area = width * height
    if min_area <= area <= max_area:
        return width, height
    factor = math.sqrt((min_area if area < min_area else max_area) / area)
    scaled_w, scaled_h = width * factor, height * factor
    rounding = math.ceil if area < min_area else math.floor
    return max(1, int(rounding(scaled_w))), max(1, int(rounding(scaled_h)))


def render(
    width: int, height: int, image_format: ImageFormat, seed_text: str, *, grainy: bool = False
) -> bytes:
    """A deterministic picture for ``seed_text``: cheap to encode, distinct per seed.

    ``grainy`` fills it with per-pixel noise that no encoder can shrink, so its file is as heavy as a
    detailed photo of that size (a 4480×4480 PNG is about 60 MB).
    """
    digest = hashlib.sha256(seed_text.encode()).digest()
    background, accent, second = digest[0:3], digest[3:6], digest[6:9]
    if grainy:  # no flat shapes: they would compress
        noise = random.Random(digest).randbytes(width * height * 3)
        image = Image.frombytes("RGB", (width, height), noise)
    else:
        image = Image.new("RGB", (width, height), tuple(background))
        draw = ImageDraw.Draw(image)
        draw.rectangle((width // 8, height // 8, width // 2, height // 2), fill=tuple(accent))
        draw.ellipse((width // 2, height // 2, width * 7 // 8, height * 7 // 8), fill=tuple(second))
        draw.line((0, height - 1, width - 1, 0), fill=(255, 255, 255), width=max(1, width // 100))
    buffer = io.BytesIO()
    # Fast encoder settings: the emulator must not spend real time on pixels.
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=90)
    else:
        image.save(buffer, format="WEBP", quality=80, method=0)
    return buffer.getvalue()


def _ratio(aspect: str) -> float:
    width, height = aspect.split(":")
    return int(width) / int(height)
