"""Checking uploaded bytes (runtime's shared rules), and a JPEG preview of a large PNG result."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from medialab_contracts.catalog import ModelSpec
from medialab_contracts.media import MediaRef
from medialab_runtime import images
from PIL import Image, ImageOps

from gateway_bot.failures import (
    AlbumTooLarge,
    AnimatedImage,
    BadImage,
    ImageTooLarge,
    NotAnImage,
    TooManyPixels,
)


def check_header(data: bytes, limits: images.ImageLimits) -> images.ImageInfo:
    """Type, bytes, pixels and frames of downloaded bytes, nothing decoded; raises the gateway's input
    errors. Cheap, but run it in a thread like the rest."""
    with _input_errors(data, limits):
        return images.check_header(data, limits)


def check_image(data: bytes, limits: images.ImageLimits) -> images.ImageInfo:
    """Validate downloaded bytes, header first, then every byte decoded; raises the gateway's input
    errors. CPU-bound and as large as the image: run it under the process's ``PixelBudget``."""
    with _input_errors(data, limits):
        return images.inspect(data, limits)


@contextmanager
def _input_errors(data: bytes, limits: images.ImageLimits) -> Iterator[None]:
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(limits.max_bytes)
    try:
        yield
    except images.NotAnImage:
        raise NotAnImage("not an image") from None
    except images.AnimatedImage:
        raise AnimatedImage("animated") from None
    except images.ImageTooLarge:
        raise TooManyPixels("too many pixels") from None
    except images.ImageRejected:
        raise BadImage("corrupt or unsupported") from None


def check_album(refs: Sequence[MediaRef], limits: images.ImageLimits) -> None:
    """An album's images as a whole, from what their headers said when each was taken in."""
    try:
        images.check_album([((r.width or 0) * (r.height or 0), r.size_bytes) for r in refs], limits)
    except images.ImageTooLarge:
        raise AlbumTooLarge(limits.max_pixels, limits.max_album_bytes) from None


def downscale_png(data: bytes, max_side: int | None, max_pixels: int | None) -> tuple[bytes, int, int]:
    """The image shrunk (aspect kept) to fit both limits, as PNG, with its new size. CPU-bound."""
    with Image.open(io.BytesIO(data)) as opened:
        img = ImageOps.exif_transpose(opened)
        factor = 1.0
        if max_side is not None:
            factor = min(factor, max_side / max(img.size))
        if max_pixels is not None:
            factor = min(factor, math.sqrt(max_pixels / (img.width * img.height)))
        size = (max(1, math.floor(img.width * factor)), max(1, math.floor(img.height * factor)))
        resized = img.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    resized.save(out, format="PNG")
    return out.getvalue(), resized.width, resized.height


def fit_input(data: bytes, width: int, height: int, model: ModelSpec) -> images.EncodedImage | None:
    """``data`` (``width``×``height`` upright) as ``model`` is to be sent it; None when unchanged.

    Shrunk first to the model's side and pixel limits; then, for a model that reads PNG only, made
    by ``prepare_upload``, the very rule fal-runner applies with the same budget: its result is
    final, sent byte for byte, and its size the one to tell the user. CPU-bound.
    """
    fitted: images.EncodedImage | None = None
    if not model.input_fits(width, height):
        png, width, height = downscale_png(data, model.max_input_side, model.max_input_pixels)
        data = png
        fitted = images.EncodedImage(png, "image/png", width, height, untouched=False)
    if model.input_png_only:
        prepared = images.prepare_upload(
            data,
            require_png=True,
            max_bytes=model.max_input_bytes or images.MAX_UPLOAD_BYTES,
            # Checked on arrival, or made here: a PNG of a 16 MP photo may outweigh any upload.
            max_input_bytes=len(data),
        )
        if not prepared.untouched:
            return prepared
    return fitted


def preview_jpeg(data: bytes, max_side: int) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail((max_side, max_side))
        rgb = img.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()
