"""Model argument mapping (fal_runner.arguments) and fal error classification, without any I/O."""

from __future__ import annotations

import httpx
import pytest
from fal_runner.arguments import UnsupportedJob, build_arguments, closest_aspect
from fal_runner.fal_api import app_path, classify, safe_detail
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import FailureReason
from medialab_contracts.jobs import ImageSize
from medialab_contracts.media import MediaRef
from medialab_testkit.fal import make_job

URL = "https://v3.fal.media/files/x/in.png"
REF = MediaRef(object_name="in/a.png")


@pytest.mark.parametrize(
    ("size", "aspect", "resolution"),
    [
        ((1472, 2048), "3:4", "2K"),
        ((1792, 1792), "1:1", "2K"),
        ((2048, 1472), "4:3", "2K"),
        ((1024, 576), "16:9", "1K"),
    ],
)
def test_nano_banana_pro_gets_the_closest_aspect_and_a_resolution(
    size: tuple[int, int], aspect: str, resolution: str
) -> None:
    job = make_job("nbp", size=ImageSize(width=size[0], height=size[1]))
    assert build_arguments(job, []) == {
        "prompt": job.prompt,
        "num_images": 1,
        "output_format": "png",
        "limit_generations": True,
        "aspect_ratio": aspect,
        "resolution": resolution,
    }
    assert "resolution" not in build_arguments(make_job("nb", size=job.size), [])


def test_each_format_button_reaches_its_model_as_the_size_its_label_promises() -> None:
    catalog = default_catalog()
    for fmt in catalog.by_key("sd").formats:
        size = ImageSize(width=fmt.width, height=fmt.height)
        assert build_arguments(make_job("sd", size=size), [])["image_size"] == {
            "width": fmt.width,
            "height": fmt.height,
        }
    for key in ("nb", "nbp"):
        for fmt in catalog.by_key(key).formats:
            arguments = build_arguments(make_job(key, size=ImageSize(width=fmt.width, height=fmt.height)), [])
            assert arguments["aspect_ratio"] == fmt.title.split()[-1]
            assert arguments.get("resolution") == fmt.resolution


def test_nano_banana_pro_resolution_is_the_tier_billing_prices() -> None:
    # 4K is the one tier at twice the price: a size just above 2K's largest is 4K to both.
    for size, tier in (((2400, 1792), "2K"), ((2400, 1800), "4K"), ((8192, 8192), "4K")):
        job = make_job("nbp", size=ImageSize(width=size[0], height=size[1]))
        assert build_arguments(job, [])["resolution"] == tier
        assert default_catalog().by_key("nbp").resolution(job.size).key == tier


def test_aspect_ratio_wins_over_size_and_maps_to_the_nearest_supported_one() -> None:
    job = make_job("nb", size=ImageSize(width=1024, height=1024), aspect_ratio="7:3")
    assert build_arguments(job, [])["aspect_ratio"] == "21:9"
    assert closest_aspect(1.0) == "1:1" and closest_aspect(0.5) == "9:16"


def test_seedream_sizes_stay_within_its_pixel_range() -> None:
    small = build_arguments(make_job("sd", size=ImageSize(width=512, height=512)), [])["image_size"]
    assert small["width"] * small["height"] >= 960 * 960 and small["width"] == small["height"]
    only_aspect = build_arguments(make_job("sd", aspect_ratio="2:1"), [])["image_size"]
    assert only_aspect == {"width": 2048, "height": 1024}


def test_edit_retouch_and_upscale_take_their_images() -> None:
    edit = build_arguments(make_job("nbe", inputs=[REF, REF], prompt="merge"), [URL, URL])
    assert edit == {
        "prompt": "merge",
        "num_images": 1,
        "output_format": "png",
        "limit_generations": True,
        "image_urls": [URL, URL],
    }
    seedream_retouch = build_arguments(make_job("sde", inputs=[REF], prompt="sharpen"), [URL])
    assert seedream_retouch == {"prompt": "sharpen", "num_images": 1, "image_urls": [URL]}
    assert build_arguments(make_job("ret", inputs=[REF], prompt=""), [URL]) == {"image_url": URL}
    assert build_arguments(make_job("ups", inputs=[REF], prompt=""), [URL]) == {"image_url": URL}


def test_the_gateways_seed_reaches_every_generating_model_but_not_the_upscaler() -> None:
    for key in ("nbp", "nb", "sd", "flux"):
        assert build_arguments(make_job(key, seed=1234), [])["seed"] == 1234
    for key in ("nbe", "sde"):
        assert build_arguments(make_job(key, inputs=[REF], prompt="x", seed=5), [URL])["seed"] == 5
    assert "seed" not in build_arguments(make_job("ups", inputs=[REF], seed=5), [URL])
    assert "seed" not in build_arguments(make_job("nb"), [])


def test_negative_prompts_are_not_sent_to_models_without_the_field() -> None:
    for key in ("nb", "sd", "flux"):
        assert "negative_prompt" not in build_arguments(make_job(key, negative_prompt="blurry"), [])


def test_jobs_a_model_cannot_take_are_refused() -> None:
    with pytest.raises(UnsupportedJob):
        build_arguments(make_job("nbe", inputs=[]), [])
    with pytest.raises(UnsupportedJob):
        build_arguments(make_job("ret", inputs=[REF, REF]), [URL, URL])
    with pytest.raises(UnsupportedJob):
        build_arguments(make_job("nb", model_id="fal-ai/unknown"), [])


def test_status_urls_use_owner_and_app_only() -> None:
    assert app_path("fal-ai/bytedance/seedream/v4/edit") == "fal-ai/bytedance"
    assert app_path("openrouter/router") == "openrouter/router"
    assert app_path("workflows/me/flow/x") == "workflows/me/flow"


def test_classification_and_safe_details() -> None:
    policy = {
        "detail": [
            {"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation", "input": "x"}
        ]
    }
    assert classify(422, policy) == FailureReason.moderation
    assert classify(422, {"detail": [{"loc": ["body", "image_size"], "type": "value_error"}]}) == (
        FailureReason.provider_rejected
    )
    assert (
        classify(401, {"detail": "No user found for Key ID and Secret"}) == FailureReason.provider_unavailable
    )
    assert classify(503, {"detail": "Temporarily disabled: try later"}) == FailureReason.provider_unavailable
    assert classify(500, {"detail": "boom"}) == FailureReason.provider_error
    assert classify(504, None, httpx.Headers({"x-fal-error-type": "content_policy_violation"})) == (
        FailureReason.moderation
    )
    detail = safe_detail(
        "result", 422, {"detail": [{"loc": ["body", "prompt"], "type": "x", "input": "my secret prompt"}]}
    )
    assert detail == "result: HTTP 422 — prompt:x" and "secret" not in detail


def test_variants_ask_the_model_for_that_many_images() -> None:
    for key in ("nb", "sd"):
        assert build_arguments(make_job(key, images=4), [])["num_images"] == 4
    for key in ("nbe", "sde"):
        assert build_arguments(make_job(key, inputs=[REF], images=2), [URL])["num_images"] == 2
