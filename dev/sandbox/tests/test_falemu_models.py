"""fal emulator: per-model input validation and real image outputs."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.fal.storage import data_uri
from medialab_sandbox.fal.testing import run_request
from PIL import Image

KEY = "key-id:key-secret"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def falemu_http_timeout() -> float:
    return 10.0


def picture(width: int, height: int, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


PNG_4_3 = data_uri(picture(64, 48), "image/png")
JPEG_4_3 = data_uri(picture(64, 48, "JPEG"), "image/jpeg")


async def run_ok(
    fal: FalEmulator, http: httpx.AsyncClient, model_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await run_request(http, fal.queue_base, model_id, body, KEY)
    assert response.status_code == 200, response.text
    return response.json()


async def run_error(
    fal: FalEmulator, http: httpx.AsyncClient, model_id: str, body: dict[str, Any]
) -> httpx.Response:
    response = await run_request(http, fal.queue_base, model_id, body, KEY)
    assert response.status_code >= 400, response.text
    return response


async def fetch_image(http: httpx.AsyncClient, described: dict[str, Any]) -> Image.Image:
    """Download an output and check the metadata fal reports matches the real bytes."""
    response = await http.get(described["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == described["content_type"]
    assert len(response.content) == described["file_size"]
    image = Image.open(io.BytesIO(response.content))
    if "width" in described:
        assert image.size == (described["width"], described["height"])
    return image


async def test_nano_banana_text_to_image(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    body = {"prompt": "a red fox", "aspect_ratio": "16:9", "output_format": "jpeg", "num_images": 2}

    result = await run_ok(falemu, falemu_http, "fal-ai/nano-banana", body)

    assert set(result) == {"images", "description"}
    assert len(result["images"]) == 2
    for described in result["images"]:
        image = await fetch_image(falemu_http, described)
        assert image.format == "JPEG"
        assert image.size == (1344, 768)
    assert result["images"][0]["url"] != result["images"][1]["url"]


async def test_nano_banana_edit_auto_aspect_follows_first_input(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    body = {"prompt": "make it blue", "image_urls": [PNG_4_3], "output_format": "webp"}

    result = await run_ok(falemu, falemu_http, "fal-ai/nano-banana/edit", body)

    image = await fetch_image(falemu_http, result["images"][0])
    assert image.format == "WEBP"
    assert image.size == (1184, 864)
    assert isinstance(result["description"], str)


@pytest.mark.parametrize(
    ("aspect", "resolution", "expected"),
    [  # Google's table for Gemini 3 Pro Image
        ("3:4", "1K", (896, 1200)),
        ("3:4", "2K", (1792, 2400)),
        ("4:3", "4K", (4800, 3584)),
        ("1:1", "4K", (4096, 4096)),
        ("21:9", "2K", (3168, 1344)),
    ],
)
async def test_nano_banana_pro_answers_googles_size_for_each_aspect_and_resolution(
    falemu: FalEmulator,
    falemu_http: httpx.AsyncClient,
    aspect: str,
    resolution: str,
    expected: tuple[int, int],
) -> None:
    body = {"prompt": "x", "aspect_ratio": aspect, "resolution": resolution}

    result = await run_ok(falemu, falemu_http, "fal-ai/nano-banana-pro", body)

    image = await fetch_image(falemu_http, result["images"][0])
    assert image.format == "PNG"
    assert image.size == expected


async def test_nano_banana_pro_edit_explicit_aspect(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    body = {"prompt": "merge", "image_urls": [PNG_4_3, JPEG_4_3], "aspect_ratio": "9:16"}

    result = await run_ok(falemu, falemu_http, "fal-ai/nano-banana-pro/edit", body)

    assert (await fetch_image(falemu_http, result["images"][0])).size == (768, 1376)


@pytest.mark.parametrize(("width", "height"), [(1200, 300), (14, 64)])
async def test_seedream_edit_refuses_inputs_outside_bytedances_limits(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, width: int, height: int
) -> None:
    body = {"prompt": "x", "image_urls": [PNG_4_3, data_uri(picture(width, height), "image/png")]}

    response = await run_error(falemu, falemu_http, "fal-ai/bytedance/seedream/v4/edit", body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "image_urls", 1]


@pytest.mark.parametrize(
    ("image_size", "expected"),
    [
        ({"width": 1472, "height": 2048}, (1472, 2048)),
        ("square_hd", (1024, 1024)),
        # Below seedream's minimum area (960²): scaled up keeping the aspect.
        ("square", (960, 960)),
        ("landscape_4_3", (1109, 832)),
    ],
)
async def test_seedream_text_to_image_sizes(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, image_size: Any, expected: tuple[int, int]
) -> None:
    body = {"prompt": "x", "image_size": image_size, "seed": 42}

    result = await run_ok(falemu, falemu_http, "fal-ai/bytedance/seedream/v4/text-to-image", body)

    assert set(result) == {"images", "seed"}
    assert result["seed"] == 42
    assert (await fetch_image(falemu_http, result["images"][0])).size == expected


async def test_seedream_edit_derives_size_from_first_input(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    body = {"prompt": "x", "image_urls": [PNG_4_3], "num_images": 2}

    result = await run_ok(falemu, falemu_http, "fal-ai/bytedance/seedream/v4/edit", body)

    assert len(result["images"]) == 2
    width, height = (await fetch_image(falemu_http, result["images"][0])).size
    assert width * height >= 960 * 960
    assert abs(width / height - 4 / 3) < 0.01
    assert isinstance(result["seed"], int)


async def test_seedream_edit_limits_inputs_plus_outputs(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    body = {"prompt": "x", "image_urls": [PNG_4_3] * 10, "num_images": 6}

    response = await run_error(falemu, falemu_http, "fal-ai/bytedance/seedream/v4/edit", body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_retoucher_keeps_the_input_size(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    result = await run_ok(falemu, falemu_http, "fal-ai/retoucher", {"image_url": JPEG_4_3, "seed": 7})

    assert set(result) == {"image", "seed"}
    assert result["seed"] == 7
    assert (await fetch_image(falemu_http, result["image"])).size == (64, 48)


async def test_crisp_upscale_doubles_a_png(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    result = await run_ok(falemu, falemu_http, "fal-ai/recraft/upscale/crisp", {"image_url": PNG_4_3})

    assert set(result) == {"image"}
    assert "width" not in result["image"]  # a File, not an Image
    image = await fetch_image(falemu_http, result["image"])
    assert (image.format, image.size) == ("PNG", (128, 96))


async def test_crisp_upscale_can_be_forced_to_webp(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_upscale_format("webp")

    result = await run_ok(falemu, falemu_http, "fal-ai/recraft/upscale/crisp", {"image_url": PNG_4_3})

    assert result["image"]["content_type"] == "image/webp"
    image = await fetch_image(falemu_http, result["image"])
    assert (image.format, image.size) == ("WEBP", (128, 96))


async def test_crisp_upscale_rejects_non_png(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    response = await run_error(falemu, falemu_http, "fal-ai/recraft/upscale/crisp", {"image_url": JPEG_4_3})

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "image_url"]
    assert "PNG" in item["msg"]


@pytest.mark.parametrize("size", [(4097, 100), (4000, 4001), (31, 400)])
async def test_crisp_upscale_refuses_inputs_out_of_recraft_limits(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, size: tuple[int, int]
) -> None:
    image = data_uri(picture(*size, "PNG"), "image/png")
    response = await run_error(falemu, falemu_http, "fal-ai/recraft/upscale/crisp", {"image_url": image})

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "image_url"]
    assert "4096" in item["msg"] and "16 MP" in item["msg"]


async def test_flux_dev_defaults_and_shape(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    result = await run_ok(falemu, falemu_http, "fal-ai/flux/dev", {"prompt": "castle"})

    assert set(result) == {"images", "timings", "seed", "has_nsfw_concepts", "prompt"}
    assert result["prompt"] == "castle"
    assert result["has_nsfw_concepts"] == [False]
    image = await fetch_image(falemu_http, result["images"][0])
    assert (image.format, image.size) == ("JPEG", (1024, 768))


async def test_sync_mode_returns_a_data_uri(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    body = {"prompt": "x", "image_size": {"width": 32, "height": 16}, "output_format": "png"}

    result = await run_ok(falemu, falemu_http, "fal-ai/flux/dev", {**body, "sync_mode": True})

    described = result["images"][0]
    assert described["url"].startswith("data:image/png;base64,")
    decoded = falemu.file_bytes(described["url"])
    assert decoded is not None
    assert Image.open(io.BytesIO(decoded)).size == (32, 16)
    assert falemu.storage.files == {}


@pytest.mark.parametrize(
    ("model_id", "body", "loc", "error_type"),
    [
        ("fal-ai/nano-banana", {"prompt": "x", "num_images": 5}, ["num_images"], "less_than_equal"),
        ("fal-ai/nano-banana", {"prompt": "x", "aspect_ratio": "7:3"}, ["aspect_ratio"], "literal_error"),
        ("fal-ai/nano-banana", {"prompt": "x", "output_format": "gif"}, ["output_format"], "literal_error"),
        ("fal-ai/nano-banana/edit", {"prompt": "x"}, ["image_urls"], "missing"),
        ("fal-ai/nano-banana/edit", {"prompt": "x", "image_urls": []}, ["image_urls"], "too_short"),
        ("fal-ai/nano-banana-pro", {"prompt": "x", "resolution": "8K"}, ["resolution"], "literal_error"),
        ("fal-ai/nano-banana-pro/edit", {"image_urls": [PNG_4_3]}, ["prompt"], "missing"),
        (
            "fal-ai/bytedance/seedream/v4/text-to-image",
            {"prompt": "x", "num_images": 7},
            ["num_images"],
            "less_than_equal",
        ),
        ("fal-ai/retoucher", {}, ["image_url"], "missing"),
        ("fal-ai/recraft/upscale/crisp", {"image_url": 5}, ["image_url"], "string_type"),
        ("fal-ai/flux/dev", {"prompt": "x", "output_format": "webp"}, ["output_format"], "literal_error"),
        (
            "openrouter/router",
            {"prompt": "x", "model": "m", "temperature": 3},
            ["temperature"],
            "less_than_equal",
        ),
    ],
)
async def test_invalid_input_is_422_and_not_billed(
    falemu: FalEmulator,
    falemu_http: httpx.AsyncClient,
    model_id: str,
    body: dict[str, Any],
    loc: list[str],
    error_type: str,
) -> None:
    response = await run_error(falemu, falemu_http, model_id, body)

    assert response.status_code == 422
    assert response.headers["x-fal-billable-units"] == "0"
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", *loc]
    assert item["type"] == error_type
    assert item["msg"]


async def test_foreign_url_input_fails_like_an_unloadable_image(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    body = {"prompt": "x", "image_urls": [PNG_4_3, "https://example.com/cat.png"]}

    response = await run_error(falemu, falemu_http, "fal-ai/nano-banana/edit", body)

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["loc"] == ["body", "image_urls", 1]
    assert item["type"] == "file_download_error"


async def test_undecodable_input_is_422(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    garbage = data_uri(b"definitely not an image", "image/png")

    response = await run_error(falemu, falemu_http, "fal-ai/retoucher", {"image_url": garbage})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "image_load_error"


async def test_unknown_fields_are_ignored(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    body = {"prompt": "x", "model": "google/gemini-2.5-flash", "unheard_of": True}
    result = await run_ok(falemu, falemu_http, "openrouter/router", body)

    assert result["output"]
