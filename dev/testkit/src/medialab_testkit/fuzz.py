"""Hostile image files, made in memory (no fixtures on disk), for every image mode's validation path.

Used by ``tests/fuzz/test_fuzz_images.py`` (library paths) and by the chaos suite's end-to-end pass (sent to
the bot as a user would). Each file says whether every path must refuse it (``must_refuse``) or may
accept it as the odd but real picture it is.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    file_name: str
    mime_type: str
    must_refuse: bool


def _noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    bands = [Image.effect_noise(size, 60 + 10 * i) for i in range(len(mode))]
    return Image.merge(mode, bands) if len(mode) > 1 else bands[0]


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_header(width: int, height: int, idat: bytes, bit_depth: int = 8, color_type: int = 0) -> bytes:
    """A PNG from raw parts: any declared size, any pixel data (valid CRCs, so only the content lies)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def bomb_header() -> bytes:
    """30000×30000 declared, a few bytes of data: Pillow's bomb check must stop it at the header."""
    return png_with_header(30000, 30000, zlib.compress(b"\x00" * 64))


def zeros_bomb(side: int = 10_000) -> bytes:
    """A real 100-megapixel greyscale PNG of zeros, ~100 KB on disk: every pixel is valid."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return png_with_header(side, side, body)


def truncated(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


def exif_with_huge_tags() -> bytes:
    """A JPEG whose EXIF carries a ~60 KB description (the APP1 segment's limit) and a rotation."""
    exif = Image.Exif()
    exif[0x010E] = "Ж" * 30_000  # ImageDescription
    exif[0x0112] = 6  # Orientation: rotated 90°
    return _save(_noise((96, 64)), "JPEG", exif=exif.tobytes())


def exif_lying_about_sizes() -> bytes:
    """A JPEG with a hand-made EXIF block whose one tag claims 2³¹ values at an offset past its end."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHII", 0x010E, 2, 2**31, 0xFFFF_FFF0) + struct.pack("<I", 0)
    app1_body = b"Exif\x00\x00" + tiff
    jpeg = _save(_noise((64, 48)), "JPEG")
    app1 = b"\xff\xe1" + struct.pack(">H", len(app1_body) + 2) + app1_body
    return jpeg[:2] + app1 + jpeg[2:]


def animated_webp() -> bytes:
    frames = [_noise((80, 60)) for _ in range(3)]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)


def png_polyglot() -> bytes:
    """A real PNG with an HTML page and a ZIP archive after IEND (renders as a picture, opens as a zip)."""
    html = b"<html><script>alert(1)</script></html>"
    zip_tail = b"PK\x03\x04" + b"\x00" * 26 + b"PK\x05\x06" + b"\x00" * 18
    return _save(_noise((64, 64)), "PNG") + html + zip_tail


def gif_polyglot() -> bytes:
    """GIFAR-style: a GIF whose trailer is followed by a script."""
    return _save(_noise((40, 40)).convert("P"), "GIF") + b"/*\n*/alert(document.cookie)//"


def png_signature_html() -> bytes:
    """Starts like a PNG, is an HTML page."""
    return b"\x89PNG\r\n\x1a\n<!doctype html><html><body>not a picture</body></html>"


def sixteen_bit_png() -> bytes:
    image = Image.linear_gradient("L").resize((128, 96)).convert("I").point(lambda v: v * 257)
    return _save(image.convert("I;16"), "PNG")


CORPUS: list[Callable[[], Hostile]] = [
    lambda: Hostile(
        "truncated-png", truncated(_save(_noise((256, 256)), "PNG"), 0.6), "cut.png", "image/png", True
    ),
    lambda: Hostile(
        "truncated-jpeg", truncated(_save(_noise((256, 256)), "JPEG"), 0.5), "cut.jpg", "image/jpeg", True
    ),
    lambda: Hostile(
        "tall-1x50000", _save(Image.new("L", (1, 50_000), 128), "PNG"), "tall.png", "image/png", False
    ),
    lambda: Hostile(
        "wide-50000x1", _save(Image.new("L", (50_000, 1), 128), "PNG"), "wide.png", "image/png", False
    ),
    lambda: Hostile("bomb-header-30000", bomb_header(), "bomb.png", "image/png", True),
    lambda: Hostile("bomb-zeros-100mp", zeros_bomb(), "zeros.png", "image/png", True),
    lambda: Hostile("polyglot-png-html-zip", png_polyglot(), "poly.png", "image/png", False),
    lambda: Hostile("polyglot-gifar", gif_polyglot(), "poly.gif", "image/gif", False),
    lambda: Hostile("png-signature-html", png_signature_html(), "page.png", "image/png", True),
    lambda: Hostile("exif-huge-tags", exif_with_huge_tags(), "exif.jpg", "image/jpeg", False),
    lambda: Hostile("exif-lying-sizes", exif_lying_about_sizes(), "lies.jpg", "image/jpeg", False),
    lambda: Hostile("animated-webp", animated_webp(), "anim.webp", "image/webp", False),
    lambda: Hostile("cmyk-jpeg", _save(_noise((96, 64), "CMYK"), "JPEG"), "cmyk.jpg", "image/jpeg", False),
    lambda: Hostile("png-16-bit", sixteen_bit_png(), "deep.png", "image/png", False),
    lambda: Hostile("empty", b"", "empty.png", "image/png", True),
    lambda: Hostile(
        "svg-script",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>',
        "vector.png",
        "image/png",
        True,
    ),
]


def corpus() -> list[Hostile]:
    return [make() for make in CORPUS]
