"""Image rules (medialab_runtime.images): refusals, the 4 MB rule, EXIF orientation, PNG outputs."""

from __future__ import annotations

import io
import os

import pytest
from fal_runner.outputs import safe_output_urls
from medialab_contracts.events import FailureReason
from medialab_runtime.images import (
    MAX_UPLOAD_BYTES,
    BadImage,
    ImageLimits,
    ImageTooLarge,
    NotAnImage,
    inspect,
    prepare_upload,
    to_png,
)
from PIL import Image


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    return Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def test_a_12_mb_photo_is_sent_as_a_jpeg_under_4_mb_at_full_size() -> None:
    photo = encode(noise(2900, 2100), "JPEG", quality=100)
    assert len(photo) > 11 * 1024 * 1024
    prepared = prepare_upload(photo)
    assert not prepared.untouched and prepared.content_type == "image/jpeg"
    assert len(prepared.data) <= MAX_UPLOAD_BYTES
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert (sent.format, sent.size) == ("JPEG", (2900, 2100))


def test_when_quality_50_is_not_enough_the_image_is_downscaled() -> None:
    photo = encode(noise(1200, 900), "JPEG", quality=95)
    prepared = prepare_upload(photo, max_bytes=150_000)
    assert len(prepared.data) <= 150_000
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.format == "JPEG" and sent.width < 1200
        assert sent.width / sent.height == pytest.approx(1200 / 900, rel=0.01)


def test_a_2_mb_png_is_sent_byte_identical() -> None:
    png = encode(noise(820, 820), "PNG")
    assert 1.9e6 < len(png) < MAX_UPLOAD_BYTES
    prepared = prepare_upload(png)
    assert prepared.untouched and prepared.data == png and prepared.content_type == "image/png"
    assert (prepared.width, prepared.height) == (820, 820)


def test_an_oversized_png_with_alpha_becomes_a_flattened_jpeg() -> None:
    png = encode(noise(600, 600, "RGBA"), "PNG")
    prepared = prepare_upload(png, max_bytes=len(png) // 3)
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.format == "JPEG" and sent.mode == "RGB"


def test_a_rotated_jpeg_is_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    photo = encode(noise(300, 200), "JPEG", quality=90, exif=exif)
    assert inspect(photo).width == 200
    prepared = prepare_upload(photo)
    assert not prepared.untouched
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.format == "JPEG" and sent.size == (200, 300)
        assert sent.getexif().get(0x0112, 1) == 1


def test_recraft_gets_png_input() -> None:
    photo = encode(noise(200, 100), "JPEG")
    prepared = prepare_upload(photo, require_png=True)
    assert prepared.content_type == "image/png"
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.format == "PNG" and sent.size == (200, 100)
    png = encode(noise(64, 64), "PNG")
    assert prepare_upload(png, require_png=True).data == png
    big_png = encode(noise(400, 400), "PNG")
    fitted = prepare_upload(big_png, require_png=True, max_bytes=len(big_png) // 2)
    assert fitted.content_type == "image/png" and len(fitted.data) <= len(big_png) // 2


def test_a_webp_output_becomes_a_valid_png_and_a_png_output_stays_as_is() -> None:
    webp = encode(noise(120, 80), "WEBP")
    converted = to_png(webp)
    with Image.open(io.BytesIO(converted.data)) as result:
        result.load()
        assert result.format == "PNG" and result.size == (120, 80)
    png = encode(noise(50, 50), "PNG")
    assert to_png(png).data == png


def test_a_text_file_renamed_jpg_is_not_an_image() -> None:
    with pytest.raises(NotAnImage) as refused:
        prepare_upload(b"just some words, not a photo\n" * 10)
    assert refused.value.reason == FailureReason.not_an_image
    with pytest.raises(NotAnImage):
        inspect(b"")


def test_a_truncated_jpeg_is_a_bad_image() -> None:
    photo = encode(noise(300, 300), "JPEG")
    with pytest.raises(BadImage) as refused:
        inspect(photo[: len(photo) // 2])
    assert refused.value.reason == FailureReason.bad_image


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow warns at 10k² and raises at 20k²
def test_decompression_bombs_are_refused(side: int) -> None:
    bomb = encode(Image.new("1", (side, side)), "PNG")
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ImageTooLarge) as refused:
        prepare_upload(bomb)
    assert refused.value.reason == FailureReason.image_too_large


def test_too_many_bytes_are_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        inspect(b"\xff" * 2000, ImageLimits(max_bytes=1000))


def test_images_the_safety_checker_flagged_are_never_delivered() -> None:
    body = {
        "images": [{"url": "https://cdn/a.png"}, {"url": "https://cdn/b.png"}],
        "has_nsfw_concepts": [True, False],
    }
    assert safe_output_urls(body) == ["https://cdn/b.png"]
    assert safe_output_urls({**body, "has_nsfw_concepts": [True, True]}) == []
    assert safe_output_urls({"image": {"url": "https://cdn/c.png"}}) == ["https://cdn/c.png"]  # no flags
