"""``inspect`` decodes JPEGs at reduced scale: its verdicts and sizes must still match a full decode."""

from __future__ import annotations

import io
import struct

import pytest
from medialab_runtime import images
from PIL import Image


def _jpeg(size: tuple[int, int], orientation: int = 1, mode: str = "RGB") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.new(mode, size, 128 if mode == "L" else None).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def _full_decode(data: bytes) -> images.ImageInfo:
    image, info = images.decode(data)
    image.close()
    return info


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_inspect_matches_full_decode_for_every_orientation(orientation: int, mode: str) -> None:
    data = _jpeg((203, 61), orientation, mode)
    assert images.inspect(data) == _full_decode(data)


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (9, 17)])
def test_inspect_handles_jpegs_smaller_than_the_scale(size: tuple[int, int]) -> None:
    info = images.inspect(_jpeg(size))
    assert (info.width, info.height) == size


def test_inspect_refuses_a_truncated_jpeg_like_a_full_decode() -> None:
    noisy = Image.effect_noise((640, 480), 64).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="JPEG", quality=90)
    truncated = out.getvalue()[: len(out.getvalue()) // 2]
    with pytest.raises(images.BadImage):
        _full_decode(truncated)
    with pytest.raises(images.BadImage):
        images.inspect(truncated)


def _tiff_with_rational_strip_offsets() -> bytes:
    """An uncompressed TIFF whose StripOffsets entry claims the RATIONAL type: Pillow then seeks to an
    IFDRational and raises TypeError (found by the fuzz suite)."""
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (8, 8, 8)).save(out, format="TIFF")
    data = bytearray(out.getvalue())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 0x0111:  # StripOffsets
            struct.pack_into("<H", data, entry + 2, 5)  # RATIONAL
    return bytes(data)


def test_a_tiff_that_makes_pillow_raise_type_error_is_refused_as_bad() -> None:
    data = _tiff_with_rational_strip_offsets()
    with Image.open(io.BytesIO(data)) as image, pytest.raises(TypeError):
        image.load()
    with pytest.raises(images.BadImage):
        images.inspect(data)
