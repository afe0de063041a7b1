"""Fitting a result under Telegram's document limit before it is sent, so a 413 never happens.

The PNG goes as it is when it fits; otherwise a high-quality JPEG of the same pixels; otherwise that
JPEG downscaled until it fits. The caption says which, so the user knows what they got.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from enum import StrEnum

from medialab_runtime import images
from PIL import Image

JPEG_QUALITY = 95
# Each step aims a little under the limit (JPEG size is not exactly proportional to the pixel count).
_SHRINK_MARGIN = 0.95
_SHRINK_STEPS = 6


class Fit(StrEnum):
    png = "png"  # the result itself
    jpeg = "jpeg"  # same pixels, JPEG q95
    downscaled = "downscaled"  # JPEG q95 at a smaller size


class Undeliverable(StrEnum):
    """Why a result could not be sent at all."""

    missing = "missing"  # gone from the media store
    unreadable = "unreadable"  # not an image we can open
    too_large = "too_large"  # over the limit even downscaled, or Telegram said 413
    # Of the whole delivery, never of one part:
    rejected = "rejected"  # Telegram refused the message for good (400 other than a missing chat)
    chat_refused = "chat_refused"  # the bot is blocked or the chat is gone: nobody can be told
    attempts_exhausted = "attempts_exhausted"  # an error that lasted through every delivery attempt


class UnreadableResult(Exception):
    pass


@dataclass(frozen=True)
class FittedResult:
    data: bytes
    fit: Fit
    width: int
    height: int

    @property
    def extension(self) -> str:
        return "png" if self.fit is Fit.png else "jpg"


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _opaque(image: Image.Image) -> Image.Image:
    """RGB for JPEG; transparency becomes white, as a viewer would show it on a light page."""
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def fit_document(data: bytes, max_bytes: int) -> FittedResult | None:
    """The result as a document of at most ``max_bytes``; None when even a downscale does not fit.

    Raises ``UnreadableResult`` for bytes that are not an image. CPU-bound: run in a thread.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if len(data) <= max_bytes:
                return FittedResult(data, Fit.png, image.width, image.height)
            image.load()
            rgb = _opaque(image)
    except (*images.DECODE_ERRORS, Image.DecompressionBombError) as error:
        raise UnreadableResult(str(error)) from error
    encoded = _jpeg(rgb)
    if len(encoded) <= max_bytes:
        return FittedResult(encoded, Fit.jpeg, rgb.width, rgb.height)
    for _ in range(_SHRINK_STEPS):
        factor = math.sqrt(max_bytes / len(encoded)) * _SHRINK_MARGIN
        size = (max(1, int(rgb.width * factor)), max(1, int(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        encoded = _jpeg(rgb)
        if len(encoded) <= max_bytes:
            return FittedResult(encoded, Fit.downscaled, rgb.width, rgb.height)
    return None
