"""Pictures made in memory for test inputs (small, so building one takes microseconds)."""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image


def image_bytes(
    size: tuple[int, int],
    color: tuple[int, int, int] = (200, 80, 40),
    fmt: str = "PNG",
    *,
    noisy: bool = False,
    **params: Any,
) -> bytes:
    """One colour, or random pixels with ``noisy`` (they do not compress: real-photo sizes)."""
    if noisy:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, color)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    return image_bytes(size, color)


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (40, 160, 90)) -> bytes:
    return image_bytes(size, color, "JPEG")


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n") and Image.open(io.BytesIO(data)).format == "PNG"


def photo_jpeg(size: tuple[int, int], seed: int = 0) -> bytes:
    """A JPEG with some texture, so that decoding and rendering it takes measurable time."""
    base = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 20 + seed % 7)
    photo = Image.merge("RGB", [base, noise, base.rotate(90)])
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=88)
    return out.getvalue()


def rotated_jpeg(size: tuple[int, int]) -> bytes:
    """A JPEG stored sideways with EXIF orientation 6 (turn 90° clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return image_bytes(size, (30, 120, 200), "JPEG", exif=exif.tobytes())


def bomb_png() -> bytes:
    """400 megapixels in a few hundred kilobytes: one bit per pixel, all zero."""
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    return buffer.getvalue()
