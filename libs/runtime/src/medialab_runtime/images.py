"""Input and output images: validation, EXIF orientation, the 4 MB upload rule, PNG outputs.

Shared by the gateway (refuse bad input before anything is paid), fal-runner, wavespeed-runner and
text-render (``check_header``).
Every function is synchronous and CPU-bound: call it through ``asyncio.to_thread``.

Rules (SPEC.md "Details that matter", issue 17 item 3):
- checked before anything is decoded or stored (``check_header``): the type by its magic bytes (Pillow's
  plugins identify a file by its first bytes, and only ``ACCEPTED_FORMATS`` are tried), the size in
  bytes, width × height from the header (Pillow's lazy open reads nothing else) against the pixel limit,
  and animations refused (an MPO, a phone photo with a depth map, counts as its first frame only);
- an album is checked as a whole (``check_album``): its total pixels and bytes against the same limits,
  since its images are decoded side by side;
- refused with a typed error: not an image (``NotAnImage``), corrupt or truncated (``BadImage``),
  animated (``AnimatedImage``), more bytes than ``max_bytes`` or more pixels than the limit
  (``ImageTooLarge``); ``configure_pillow`` (called at start by each service that opens images)
  sets Pillow's own guard, with its ``DecompressionBombWarning`` an error, for every other
  ``Image.open`` of the process, at the larger of the input and the result limit (an ×2 upscale's
  result has 4× the input's pixels);
- an upload under 4 MB is sent byte-identical, unless its EXIF orientation is not "normal": providers
  may ignore EXIF, so the pixels are turned upright and re-encoded (JPEG sources as JPEG quality 95,
  others as PNG), and formats providers may not read (GIF, BMP, TIFF) become PNG;
- nothing but pixels leaves for a provider: an image carrying metadata (EXIF with GPS and camera,
  XMP, comments, PNG text chunks) is re-encoded the same way, after its orientation was applied, and
  the encoders are given no metadata to write;
- over 4 MB: JPEG quality 85 stepping down by 5 to 50; if still too big, the image is downscaled just
  enough to fit at quality 85 (once pixels must go, we keep the quality of the pixels left);
- a model that wants PNG input (recraft crisp) gets PNG, downscaled if PNG would exceed the limit.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from medialab_contracts.events import FailureReason
from PIL import Image, ImageOps, UnidentifiedImageError

from medialab_runtime.limits import MAX_INPUT_BYTES, ImageLimits

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # the JPEG plugin also opens MPO
SENT_AS_IS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
JPEG_QUALITIES = tuple(range(85, 49, -5))
UPRIGHT_JPEG_QUALITY = 95
_ORIENTATION_TAG = 0x0112
_SHRINK_MARGIN = 0.95
_JPEG_CHECK_SCALE = 8  # the largest DCT scaling libjpeg offers
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the picture by 90°

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


class ImageRejected(ValueError):
    """An image we will not process; ``reason`` is what the job fails with."""

    reason: ClassVar[FailureReason] = FailureReason.bad_image


class NotAnImage(ImageRejected):
    reason = FailureReason.not_an_image


class BadImage(ImageRejected):
    reason = FailureReason.bad_image


class ImageTooLarge(ImageRejected):
    reason = FailureReason.image_too_large


class DecompressionBomb(ImageTooLarge):
    """Pillow's own guard (``Image.MAX_IMAGE_PIXELS``) refused the header."""


class AnimatedImage(ImageRejected):
    reason = FailureReason.bad_image


def configure_pillow(max_pixels: int) -> None:
    """Pillow's decompression-bomb guard at our limit for every ``Image.open`` of this process.

    Pillow warns between 1× and 2× ``MAX_IMAGE_PIXELS`` and raises only above; the warning becomes an
    error so nothing over the limit is ever decoded, even by code that forgets ``check_header``.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG, WEBP, ...
    width: int  # upright, after EXIF orientation
    height: int
    orientation: int  # EXIF orientation, 1 = normal

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    untouched: bool  # True when ``data`` are the caller's bytes, unchanged

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(self.content_type, "bin")


def _max_pixels() -> int | None:
    # Read at call time: Pillow's limit is a module global a deployment may tune.
    return Image.MAX_IMAGE_PIXELS


# What Pillow's decoders raise on hostile bytes besides OSError: a mangled TIFF tag of the wrong type
# gives a TypeError (an IFDRational where an offset belongs), others an IndexError, KeyError or
# struct.error. Each means "not a readable image", never a crash of the caller.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error)


def _open(data: bytes, max_bytes: int, max_pixels: int | None = None) -> Image.Image:
    """Open ``data`` lazily, refusing oversized files, unknown formats and decompression bombs."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes, the limit is {max_bytes}")
    if not data:
        raise NotAnImage("empty file")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DecompressionBomb("more pixels than allowed (decompression bomb)") from None
    except UnidentifiedImageError:
        raise NotAnImage("not an image in an accepted format") from None
    except DECODE_ERRORS as error:
        raise BadImage(f"unreadable image header: {type(error).__name__}") from None
    limit = _max_pixels() if max_pixels is None else max_pixels
    if limit is not None and image.width * image.height > limit:
        # Pillow only warns between 1× and 2× its limit (DecompressionBombWarning); we refuse.
        image.close()
        raise ImageTooLarge(f"{image.width}×{image.height} pixels, the limit is {limit}")
    return image


def check_header(data: bytes, limits: ImageLimits | None = None) -> ImageInfo:
    """Type, bytes, pixels and frames from the header alone: nothing is decoded. Raises ``ImageRejected``."""
    limits = limits or ImageLimits()
    with _open(data, limits.max_bytes, limits.max_pixels) as image:
        source_format = image.format or ""
        if getattr(image, "is_animated", False) and source_format != "MPO":
            raise AnimatedImage(f"an animated or multi-page {source_format}")
        width, height = image.size
        orientation = _orientation(image)
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return ImageInfo(source_format, width, height, orientation)


def check_album(sizes: Sequence[tuple[int, int]], limits: ImageLimits) -> None:
    """An album's ``(pixels, bytes)`` per image, checked as a whole; raises ``ImageTooLarge``."""
    pixels = sum(p for p, _ in sizes)
    size = sum(b for _, b in sizes)
    if pixels > limits.max_pixels:
        raise ImageTooLarge(f"the album has {pixels} pixels, the limit is {limits.max_pixels}")
    if size > limits.max_album_bytes:
        raise ImageTooLarge(f"the album has {size} bytes, the limit is {limits.max_album_bytes}")


def check_inputs(datas: Sequence[bytes], limits: ImageLimits) -> list[ImageInfo]:
    """Every image's header, then the images as one album: what a runner does before decoding any."""
    infos = [check_header(data, limits) for data in datas]
    check_album([(i.width * i.height, len(d)) for i, d in zip(infos, datas, strict=True)], limits)
    return infos


def decode(data: bytes, *, max_bytes: int = MAX_INPUT_BYTES) -> tuple[Image.Image, ImageInfo]:
    """Fully decode ``data`` (so truncation is caught) and turn it upright; raises ``ImageRejected``."""
    image = _open(data, max_bytes)
    _load(image)
    source_format = image.format or ""
    orientation = _orientation(image)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
    return image, ImageInfo(source_format, image.width, image.height, orientation)


def inspect(data: bytes, limits: ImageLimits | None = None) -> ImageInfo:
    """Validate ``data`` as an image and return its format and upright size.

    Every byte is decoded, as in ``decode``, so truncated or corrupt files are refused the same way.
    A JPEG is decoded at 1/8 scale, though: libjpeg still reads the whole stream, but keeps 1/64 of
    the pixels, so checking a 24-megapixel photo peaks at ~2 MB instead of ~90 MB. The gateway checks
    every upload this way, concurrently, and only needs the verdict, not the pixels. Nothing is decoded
    before ``check_header`` passed.
    """
    limits = limits or ImageLimits()
    check_header(data, limits)
    image = _open(data, limits.max_bytes, limits.max_pixels)
    with image:
        width, height = image.size
        source_format = image.format or ""
        orientation = _orientation(image)
        if source_format in ("JPEG", "MPO"):
            image.draft(None, (max(1, width // _JPEG_CHECK_SCALE), max(1, height // _JPEG_CHECK_SCALE)))
        _load(image)
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return ImageInfo(source_format, width, height, orientation)


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except Image.DecompressionBombError:
        raise DecompressionBomb("more pixels than allowed (decompression bomb)") from None
    except DECODE_ERRORS as error:
        raise BadImage(f"corrupt or truncated image: {type(error).__name__}") from None


# Pillow's ``info`` keys of metadata that may identify a person, a place or a device.
_METADATA_KEYS = frozenset({"exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc"})


def _has_metadata(image: Image.Image) -> bool:
    if _METADATA_KEYS & set(image.info) or len(image.getexif()):
        return True
    return bool(getattr(image, "text", None))  # PNG tEXt/iTXt/zTXt chunks


def prepare_upload(
    data: bytes,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    require_png: bool = False,
    max_input_bytes: int = MAX_INPUT_BYTES,
) -> EncodedImage:
    """The bytes to send a provider for ``data``: untouched when allowed, else upright and small."""
    image, info = decode(data, max_bytes=max_input_bytes)
    with image:
        # Untouched bytes are sent only when they carry pixels alone (decode() turned them upright).
        upright = info.orientation == 1 and not _has_metadata(image)
        if require_png:
            if info.format == "PNG" and upright and len(data) <= max_bytes:
                return EncodedImage(data, "image/png", info.width, info.height, untouched=True)
            return _fit_png(image, max_bytes)
        if info.format in SENT_AS_IS and upright and len(data) <= max_bytes:
            return EncodedImage(data, info.content_type, info.width, info.height, untouched=True)
        if len(data) <= max_bytes:
            # Small but needs new bytes: turned upright, or a format providers may not read.
            if info.format in ("JPEG", "MPO"):
                encoded = _jpeg(image, UPRIGHT_JPEG_QUALITY)
            else:
                encoded = _png(image)
            if len(encoded.data) <= max_bytes:
                return encoded
        return _fit_jpeg(image, max_bytes)


def to_png(data: bytes, *, max_bytes: int = 64 * 1024 * 1024) -> EncodedImage:
    """A provider's output as PNG: PNG bytes stay as they are, anything else (WebP, JPEG) is converted.

    A PNG is only checked (chunk CRCs, size), not decoded: outputs are large and this is on every job.
    """
    image = _open(data, max_bytes)
    with image:
        if image.format == "PNG":
            width, height = image.size
            try:
                image.verify()  # reads every chunk (an eXIf one included) and checks their CRCs
            except DECODE_ERRORS as error:
                raise BadImage(f"corrupt PNG: {type(error).__name__}") from None
            if _exif_orientation(image.info.get("exif")) == 1:
                return EncodedImage(data, "image/png", width, height, untouched=True)
    upright, _info = decode(data, max_bytes=max_bytes)
    with upright:
        return _png(upright)


def _orientation(image: Image.Image) -> int:
    try:
        return _valid_orientation(image.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block must not make a good picture unusable
        return 1


def _exif_orientation(raw: object) -> int:
    """Orientation from raw EXIF bytes (what a PNG's eXIf chunk leaves in ``info``)."""
    if not isinstance(raw, bytes | bytearray):
        return 1
    exif = Image.Exif()
    try:
        exif.load(bytes(raw))
        return _valid_orientation(exif.get(_ORIENTATION_TAG, 1))
    except Exception:  # as above
        return 1


def _valid_orientation(value: object) -> int:
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def _rgb(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: flatten transparency onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _png_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def _jpeg(image: Image.Image, quality: int) -> EncodedImage:
    rgb = _rgb(image)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality, optimize=False)
    return EncodedImage(buffer.getvalue(), "image/jpeg", rgb.width, rgb.height, untouched=False)


def _png(image: Image.Image) -> EncodedImage:
    converted = _png_mode(image)
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG")
    return EncodedImage(buffer.getvalue(), "image/png", converted.width, converted.height, untouched=False)


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _shrink_factor(size: int, max_bytes: int) -> float:
    # Encoded size grows about linearly with the pixel count, so the side scales with the square root.
    return min(0.9, math.sqrt(max_bytes / size) * _SHRINK_MARGIN)


def _fit_jpeg(image: Image.Image, max_bytes: int) -> EncodedImage:
    rgb = _rgb(image)
    at_best_quality = _jpeg(rgb, JPEG_QUALITIES[0])
    encoded = at_best_quality
    for quality in JPEG_QUALITIES[1:]:
        if len(encoded.data) <= max_bytes:
            return encoded
        encoded = _jpeg(rgb, quality)
    if len(encoded.data) <= max_bytes:
        return encoded
    encoded, factor = at_best_quality, 1.0
    while len(encoded.data) > max_bytes:
        factor *= _shrink_factor(len(encoded.data), max_bytes)
        encoded = _jpeg(_scaled(rgb, factor), JPEG_QUALITIES[0])
    return encoded


def _fit_png(image: Image.Image, max_bytes: int) -> EncodedImage:
    encoded, factor = _png(image), 1.0
    while len(encoded.data) > max_bytes:
        factor *= _shrink_factor(len(encoded.data), max_bytes)
        encoded = _png(_scaled(image, factor))
    return encoded
