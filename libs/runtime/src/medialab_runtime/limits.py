"""Size limits of images and stored objects: plain numbers, so settings need no image library."""

from __future__ import annotations

from dataclasses import dataclass

MAX_INPUT_BYTES = 20 * 1024 * 1024  # what the Telegram Bot API lets a bot download
MAX_IMAGE_PIXELS = 50_000_000
MAX_ALBUM_BYTES = 40 * 1024 * 1024
MAX_RESULT_PIXELS = 100_000_000
MAX_OBJECT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """What one image, and one album as a whole, may weigh (settings MAX_IMAGE_PIXELS, MAX_ALBUM_BYTES)."""

    max_bytes: int = MAX_INPUT_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    max_album_bytes: int = MAX_ALBUM_BYTES
