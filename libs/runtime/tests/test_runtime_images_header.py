"""The header check every service runs before decoding: type, bytes, pixels, frames; albums as a whole."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator

import pytest
from medialab_contracts.media import MediaRef, upload_name, upload_owner
from medialab_runtime import images
from medialab_runtime.media_store import ForeignInput, check_owner
from PIL import Image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` and whose pixels are missing: decoding it fails."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00"))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


LIMITS = images.ImageLimits(max_bytes=1024 * 1024, max_pixels=1_000_000, max_album_bytes=1024 * 1024)


def test_pixels_are_refused_from_the_header_alone() -> None:
    info = images.check_header(_png_header_only(1000, 1000), LIMITS)  # at the limit: passes, undecoded
    assert (info.format, info.width, info.height) == ("PNG", 1000, 1000)
    with pytest.raises(images.ImageTooLarge):
        images.check_header(_png_header_only(1001, 1000), LIMITS)


def test_type_comes_from_the_magic_bytes_and_bytes_are_capped() -> None:
    png = _encoded(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(images.NotAnImage):
        images.check_header(b"%PDF-1.7" + png, LIMITS)  # a PNG's bytes after a PDF's magic
    assert images.check_header(png, LIMITS).format == "PNG"
    with pytest.raises(images.ImageTooLarge):
        images.check_header(png, images.ImageLimits(max_bytes=len(png) - 1))


def test_animations_are_refused() -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 0, 255))]
    gif = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(images.AnimatedImage):
        images.check_header(gif, LIMITS)
    assert images.check_header(_encoded(frames[0], "GIF"), LIMITS).format == "GIF"  # one frame is fine


def test_an_album_counts_as_a_whole() -> None:
    images.check_album([(500_000, 1000), (500_000, 1000)], LIMITS)
    with pytest.raises(images.ImageTooLarge):
        images.check_album([(500_000, 1000), (500_001, 1000)], LIMITS)
    with pytest.raises(images.ImageTooLarge):
        images.check_album([(10, 600 * 1024), (10, 600 * 1024)], LIMITS)
    small = _encoded(Image.new("RGB", (800, 800)), "PNG")  # 0.64 MP each: alone fine, two too many
    assert len(images.check_inputs([small], LIMITS)) == 1
    with pytest.raises(images.ImageTooLarge):
        images.check_inputs([small, small], LIMITS)


@pytest.fixture
def pillow_at_one_megapixel() -> Iterator[None]:
    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        images.configure_pillow(1_000_000)
        yield
    Image.MAX_IMAGE_PIXELS = saved


def test_pillows_guard_is_set_to_the_limit_and_its_warning_is_an_error(pillow_at_one_megapixel: None) -> None:
    # Between 1× and 2× its limit Pillow only warns; configured, a plain Image.open refuses too.
    with pytest.raises(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(_png_header_only(1200, 1000)))
    with pytest.raises(images.DecompressionBomb):
        images.decode(_png_header_only(1200, 1000))


def test_upload_names_carry_the_owner_and_128_random_bits() -> None:
    first, second = upload_name(42), upload_name(42)
    assert first != second and first.startswith("uploads/42/") and len(first.rsplit("/", 1)[1]) == 32
    assert upload_owner(first) == 42 and upload_owner(f"{first}-fit512x512") == 42
    assert upload_owner("results/" + "a" * 32 + "/0.png") is None


def test_a_job_may_not_use_another_users_upload() -> None:
    own, foreign = MediaRef(object_name=upload_name(1)), MediaRef(object_name=upload_name(2))
    check_owner([own, MediaRef(object_name="results/" + "a" * 32 + "/0.png")], user_id=1)
    with pytest.raises(ForeignInput):
        check_owner([own, foreign], user_id=1)
