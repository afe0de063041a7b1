"""Untrusted bytes → a Pillow image we can draw on, or a typed error; never a crash, never a
full decode of something too big: the runtime's shared header check (type, bytes, pixels, frames)
comes first."""

from dataclasses import dataclass
from io import BytesIO

from medialab_runtime import images
from PIL import Image, ImageOps

from text_render.errors import CorruptImage, DecompressionBomb, ImageTooLarge, NotAnImage

MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_INPUT_PIXELS = 40_000_000
ACCEPTED_FORMATS = images.ACCEPTED_FORMATS


@dataclass(frozen=True)
class LoadedImage:
    image: Image.Image
    """RGB or RGBA, already turned upright by its EXIF orientation."""
    icc_profile: bytes | None


def _drawable(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey (PNG): scale to 8 bits; a plain conversion would clip everything to white.
        return image.convert("I").point(lambda v: v / 256).convert("L").convert("RGB")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def load_image(
    data: bytes, *, max_bytes: int = MAX_INPUT_BYTES, max_pixels: int = MAX_INPUT_PIXELS
) -> LoadedImage:
    try:
        images.check_header(data, images.ImageLimits(max_bytes=max_bytes, max_pixels=max_pixels))
    except images.NotAnImage as exc:
        raise NotAnImage(str(exc)) from exc
    except images.DecompressionBomb as exc:
        raise DecompressionBomb(str(exc)) from exc
    except images.ImageTooLarge as exc:
        raise ImageTooLarge(str(exc)) from exc
    except images.ImageRejected as exc:  # an unreadable header, an animation
        raise CorruptImage(str(exc)) from exc
    try:
        image = Image.open(BytesIO(data), formats=ACCEPTED_FORMATS)
        image.load()
        icc_profile = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA") else None
        ImageOps.exif_transpose(image, in_place=True)
        return LoadedImage(_drawable(image), icc_profile or None)
    except images.DECODE_ERRORS as exc:
        raise CorruptImage(f"cannot decode: {exc}") from exc


def crop_to(image: Image.Image, size: tuple[int, int], max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """The picture scaled to cover ``size`` and cropped at the centre to exactly it (a marketplace
    card's pixels): nothing is stretched, the edges of the longer side go."""
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLarge(f"a {width}x{height} canvas is over {max_pixels} pixels")
    if image.size == size:
        return image
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)
