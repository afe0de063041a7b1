"""Hostile files and mutated images through every image validation path of the product.

Paths: the gateway's upload check (``gateway_bot.imaging.check_image``, M3/M4/M5/M6/M7/M8 inputs),
the runners' preparation for the providers (``medialab_runtime.images.prepare_upload``, JPEG and the
PNG-only upscaler) and their output conversion (``to_png``), and text-render's ``render`` (M5).
Each either returns a usable result or refuses with its own typed error; nothing else escapes, and a
refusal is decided from the header or a bounded decode (bombs are stopped quickly, whatever size they
claim).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from gateway_bot.failures import InputRejected
from gateway_bot.imaging import check_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from medialab_contracts.text_style import TextStyle
from medialab_runtime import images
from medialab_testkit.fuzz import Hostile, corpus
from PIL import Image
from text_render.errors import RenderError
from text_render.render import render

GATEWAY_LIMITS = images.ImageLimits()  # the gateway's defaults: 20 MB, 50 MP
# Every refusal must come from the header or a small decode: far below a second on any machine.
REFUSAL_BUDGET_S = 2.0

Path_ = Callable[[bytes], object]
PATHS: dict[str, tuple[Path_, type[Exception]]] = {
    "gateway.check_image": (lambda data: check_image(data, GATEWAY_LIMITS), InputRejected),
    "runtime.prepare_upload": (images.prepare_upload, images.ImageRejected),
    "runtime.prepare_upload_png": (
        lambda data: images.prepare_upload(data, require_png=True),
        images.ImageRejected,
    ),
    "runtime.to_png": (images.to_png, images.ImageRejected),
    "text_render.render": (lambda data: render(data, "Привет 👋\nстрока", TextStyle()), RenderError),
}
CORPUS = corpus()


def outcome(path: str, data: bytes) -> tuple[bool, float]:
    """(accepted, seconds) of one path on one file; an untyped exception fails the test."""
    run, refusal = PATHS[path]
    started = time.perf_counter()
    try:
        result = run(data)
    except refusal:
        return False, time.perf_counter() - started
    if isinstance(result, images.EncodedImage):
        with Image.open(io.BytesIO(result.data)) as produced:
            produced.load()  # what we hand on is a readable picture
    return True, time.perf_counter() - started


@pytest.mark.parametrize("hostile", CORPUS, ids=lambda h: h.name)
@pytest.mark.parametrize("path", list(PATHS))
def test_hostile_file_is_refused_typed_or_handled(path: str, hostile: Hostile) -> None:
    accepted, seconds = outcome(path, hostile.data)
    if hostile.must_refuse:
        assert not accepted, f"{path} accepted {hostile.name}"
        assert seconds < REFUSAL_BUDGET_S, f"{path} took {seconds:.2f}s to refuse {hostile.name}"


def _seed(fmt: str, mode: str = "RGB", size: tuple[int, int] = (24, 16), **params: object) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert(mode).save(out, format=fmt, **params)
    return out.getvalue()


SEEDS = [
    _seed("PNG"),
    _seed("JPEG"),
    _seed("WEBP"),
    _seed("GIF", "P"),
    _seed("BMP"),
    _seed("TIFF"),
    _seed("PNG", "RGBA"),
    _seed("JPEG", "CMYK"),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "dup"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_mutated_images_are_refused_typed_or_handled(data: bytes) -> None:
    for path in PATHS:
        outcome(path, data)
