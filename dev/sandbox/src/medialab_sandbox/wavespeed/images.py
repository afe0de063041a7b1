"""Cheap but real face-swap outputs: the target photo with the face photo pasted into an ellipse."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from medialab_sandbox.wavespeed.schemas import OutputFormat

MIME_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_OUTLINE = (255, 0, 255)


class UnreadableImage(Exception):
    """Input bytes Pillow cannot decode (task code 1401)."""


def decode(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(str(exc)) from exc
    return ImageOps.exif_transpose(image)


def swap_face(target: bytes, face: bytes, output_format: OutputFormat) -> bytes:
    """An image of the target's size where a face would be, filled from `face` and outlined."""
    base = decode(target).convert("RGB")
    width, height = base.size
    box_w, box_h = max(1, int(width * 0.4)), max(1, int(height * 0.5))
    left, top = (width - box_w) // 2, max(0, int(height * 0.4) - box_h // 2)
    box = (left, top, left + box_w - 1, top + box_h - 1)

    patch = ImageOps.fit(decode(face).convert("RGB"), (box_w, box_h))
    mask = Image.new("L", (box_w, box_h), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, box_w - 1, box_h - 1), fill=255)
    base.paste(patch, (left, top), mask)
    # The outline keeps the output visibly different even when both inputs are the same photo.
    ImageDraw.Draw(base).ellipse(box, outline=_OUTLINE, width=max(1, min(width, height) // 64))
    return encode(base, output_format)


def encode(image: Image.Image, output_format: OutputFormat) -> bytes:
    out = io.BytesIO()
    if output_format == "png":
        image.save(out, "PNG", compress_level=1)
    elif output_format == "webp":
        image.save(out, "WEBP", quality=80, method=0)
    else:
        image.save(out, "JPEG", quality=90)
    return out.getvalue()
