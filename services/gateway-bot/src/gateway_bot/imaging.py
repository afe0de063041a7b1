"""Checking uploaded bytes (runtime's shared rules), and a JPEG preview of a large PNG result."""

from __future__ import annotations

import io

from medialab_runtime import images
from PIL import Image

from gateway_bot.failures import BadImage, ImageTooLarge, NotAnImage, TooManyPixels


def check_image(data: bytes, max_bytes: int) -> images.ImageInfo:
    """Validate downloaded bytes; raises the gateway's input errors. CPU-bound: run in a thread."""
    if len(data) > max_bytes:
        raise ImageTooLarge(max_bytes)
    try:
        return images.inspect(data, max_bytes=max_bytes)
    except images.NotAnImage:
        raise NotAnImage("not an image") from None
    except images.ImageTooLarge:
        raise TooManyPixels("too many pixels") from None
    except images.ImageRejected:
        raise BadImage("corrupt or unsupported") from None


def preview_jpeg(data: bytes, max_side: int) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail((max_side, max_side))
        rgb = img.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()
