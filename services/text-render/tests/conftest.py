"""Pictures made on the fly for text-render tests (small, so every test takes milliseconds)."""

import io
from collections.abc import Callable

import pytest
from PIL import Image

Encoder = Callable[..., bytes]


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noisy_photo(size: tuple[int, int], seed_sigma: int = 100) -> Image.Image:
    """Full-range colour noise: every part of it has both bright and dark pixels."""
    return Image.merge("RGB", [Image.effect_noise(size, seed_sigma) for _ in range(3)])


@pytest.fixture
def to_bytes() -> Encoder:
    return encode


@pytest.fixture
def solid() -> Callable[..., bytes]:
    def make(color: tuple[int, int, int], size: tuple[int, int] = (400, 300), fmt: str = "PNG") -> bytes:
        return encode(Image.new("RGB", size, color), fmt)

    return make


@pytest.fixture
def noisy() -> Callable[..., bytes]:
    def make(size: tuple[int, int] = (400, 300)) -> bytes:
        return encode(noisy_photo(size))

    return make


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


@pytest.fixture
def open_png() -> Callable[[bytes], Image.Image]:
    return decode
