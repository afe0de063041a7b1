"""WCAG contrast and the automatic choice of text, plate and stroke colours."""

import pytest
from medialab_contracts.text_style import TextStyle
from PIL import Image
from text_render.contrast import (
    BLACK,
    MIN_CONTRAST,
    MIN_PLATE_ALPHA,
    WHITE,
    blend,
    contrast_ratio,
    plan_colors,
    sample_pixels,
    worst_contrast,
)


def test_wcag_reference_values() -> None:
    assert contrast_ratio(WHITE, BLACK) == pytest.approx(21.0)
    assert contrast_ratio((119, 119, 119), WHITE) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio((255, 0, 0), WHITE) == pytest.approx(4.0, abs=0.01)


def noise_samples() -> list[tuple[int, int, int]]:
    image = Image.merge("RGB", [Image.effect_noise((120, 80), 100) for _ in range(3)])
    return sample_pixels(image, (0, 0, *image.size))


def test_sampling_keeps_extremes_instead_of_averaging() -> None:
    image = Image.effect_noise((400, 400), 100).convert("RGB")
    samples = sample_pixels(image, (0, 0, *image.size))
    assert len(samples) <= 40 * 40
    assert min(s[0] for s in samples) < 30
    assert max(s[0] for s in samples) > 225


@pytest.mark.parametrize(
    ("background", "text"), [((255, 255, 255), BLACK), ((0, 0, 0), WHITE), ((30, 60, 90), WHITE)]
)
def test_plain_background_needs_no_plate(
    background: tuple[int, int, int], text: tuple[int, int, int]
) -> None:
    plan = plan_colors([background] * 100, TextStyle())
    assert plan.text == text
    assert plan.plate is None
    assert plan.stroke is None
    assert plan.contrast >= MIN_CONTRAST


def test_busy_background_gets_a_just_strong_enough_plate() -> None:
    samples = noise_samples()
    plan = plan_colors(samples, TextStyle())
    assert plan.plate is not None
    assert MIN_PLATE_ALPHA <= plan.plate_alpha < 1.0
    plated = [blend(s, plan.plate, plan.plate_alpha) for s in samples]
    assert worst_contrast(plan.text, plated) >= MIN_CONTRAST
    fainter = [blend(s, plan.plate, plan.plate_alpha - 0.05) for s in samples]
    assert plan.plate_alpha == MIN_PLATE_ALPHA or worst_contrast(plan.text, fainter) < MIN_CONTRAST


def test_refused_plate_gives_an_outline_instead() -> None:
    plan = plan_colors(noise_samples(), TextStyle(plate=False))
    assert plan.plate is None
    assert plan.stroke == (BLACK if plan.text == WHITE else WHITE)


def test_user_colours_are_kept() -> None:
    style = TextStyle(color="#ff0000", plate=True, plate_color="#ffffff", plate_opacity_pct=30)
    plan = plan_colors(noise_samples(), style)
    assert (plan.text, plan.plate, plan.plate_alpha) == ((255, 0, 0), WHITE, 0.3)


def test_user_text_colour_gets_the_plate_that_suits_it() -> None:
    # Red on a white wall reads poorly (4.0): a dark plate is added under it.
    plan = plan_colors([(255, 255, 255)] * 50, TextStyle(color="#ff0000"))
    assert plan.plate == BLACK
    assert plan.contrast >= MIN_CONTRAST


def test_user_plate_colour_picks_the_text_colour() -> None:
    plan = plan_colors(noise_samples(), TextStyle(plate=True, plate_color="#ffffff", plate_opacity_pct=50))
    assert plan.text == BLACK
