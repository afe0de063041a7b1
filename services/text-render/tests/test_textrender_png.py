"""The parallel PNG writer: lossless, valid for any decoder, keeps the colour profile."""

import io
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageCms
from text_render.png import adler32_combine, encode_png


@given(st.binary(max_size=300), st.binary(max_size=70_000))
def test_adler32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (1, 700), (3, 2), (257, 129), (2100, 1200)])
def test_round_trip_is_lossless(mode: str, size: tuple[int, int]) -> None:
    bands = [Image.effect_noise(size, 90) for _ in range(len(mode))]
    image = Image.merge(mode, bands)
    data = encode_png(image)
    back = Image.open(io.BytesIO(data))
    back.load()
    assert (back.format, back.mode, back.size) == ("PNG", mode, size)
    assert back.tobytes() == image.tobytes()


def test_strips_really_split_the_stream() -> None:
    """A picture larger than one strip gives several IDAT chunks that still decode as one."""
    image = Image.effect_noise((1500, 1500), 50).convert("RGB")
    data = encode_png(image)
    assert data.count(b"IDAT") > 3
    back = Image.open(io.BytesIO(data))
    back.load()
    assert back.tobytes() == image.tobytes()


def test_icc_profile_is_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode_png(Image.new("RGB", (8, 8), (1, 2, 3)), profile)
    assert Image.open(io.BytesIO(data)).info["icc_profile"] == profile


def test_other_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="RGB or RGBA"):
        encode_png(Image.new("L", (4, 4)))
