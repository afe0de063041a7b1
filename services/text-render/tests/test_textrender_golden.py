"""Golden pictures, one per size word and one per position, compared with a tolerance.

Regenerate after an intended change of the look, then look at the PNGs before committing
(see golden/README.md): run this file with ``TEXT_RENDER_UPDATE_GOLDEN=1``.
"""

import io
import os
from pathlib import Path

import pytest
from medialab_contracts.text_style import Position, SizeWord, TextStyle
from PIL import Image, ImageChops
from text_render.render import render

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TEXT_RENDER_UPDATE_GOLDEN") == "1"
TEXT = "Привет, мир! 🙂\nНа картинке 🎉"
MAX_MEAN_DIFF = 1.5
"""Mean absolute channel difference (0–255) allowed, for antialiasing drift between FreeType builds."""
MAX_CHANGED_SHARE = 0.005
"""Share of pixels allowed to differ by more than 48 in some channel."""


def background() -> bytes:
    """A deterministic picture with light and dark parts (no random noise)."""
    size = (320, 240)
    red = Image.linear_gradient("L").rotate(90).resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").resize(size)
    buffer = io.BytesIO()
    Image.merge("RGB", (red, green, blue)).save(buffer, "PNG")
    return buffer.getvalue()


CASES = {f"size_{word.value}": TextStyle(size=word) for word in SizeWord} | {
    f"position_{pos.value}": TextStyle(position=pos) for pos in Position
}


def differences(expected: Image.Image, actual: Image.Image) -> tuple[float, float]:
    diff = ImageChops.difference(expected.convert("RGB"), actual.convert("RGB"))
    data = diff.tobytes()
    mean = sum(data) / len(data)
    pixels = len(data) // 3
    changed = sum(1 for i in range(0, len(data), 3) if max(data[i], data[i + 1], data[i + 2]) > 48)
    return mean, changed / pixels


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.png"
    actual = Image.open(io.BytesIO(render(background(), TEXT, CASES[name])))
    if UPDATE:
        actual.save(path, optimize=True)
    expected = Image.open(path)
    assert expected.size == actual.size
    mean, changed = differences(expected, actual)
    assert mean <= MAX_MEAN_DIFF, f"{name}: mean difference {mean:.2f}"
    assert changed <= MAX_CHANGED_SHARE, f"{name}: {changed:.2%} of pixels changed"


def test_tolerance_catches_a_real_change() -> None:
    """The comparison is not blind: a shifted text block is far outside the tolerance."""
    expected = Image.open(GOLDEN_DIR / "position_bottom.png")
    moved = Image.open(
        io.BytesIO(render(background(), TEXT, TextStyle(position=Position.bottom, offset_pct=12)))
    )
    mean, changed = differences(expected, moved)
    assert mean > MAX_MEAN_DIFF or changed > MAX_CHANGED_SHARE
