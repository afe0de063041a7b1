"""WaveSpeed emulator: every documented error shape (HTTP 4xx and failed tasks)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    EmulatorConfig,
    InvalidInputMode,
    TaskErrorCode,
    WaveSpeedEmulator,
)
from medialab_sandbox.wavespeed.testing import (
    api_client,
    bearer,
    data_uri,
    plain_client,
    poll_result,
    sample_image,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY, OTHER_KEY = "ws-errors-key", "ws-errors-other"
SUBMIT = f"/api/v3/{FACE_SWAP_MODEL}"
IMAGE = data_uri(sample_image())
GOOD = {"image": IMAGE, "face_image": IMAGE}


@pytest.fixture(scope="module")
def wsemu_unstarted() -> WaveSpeedEmulator:
    return WaveSpeedEmulator([KEY, OTHER_KEY], config=EmulatorConfig(processing_seconds=0.01))


def assert_envelope_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == status
    assert body["message"]
    return str(body["message"])


async def failed_task(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(SUBMIT, json=body)
    assert response.status_code == 200
    data = await poll_result(api, response.json()["data"]["id"])
    assert data["status"] == "failed" and data["outputs"] == []
    return data


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "ws-errors-key"},
        {"Authorization": "Basic ws-errors-key"},
        {"Authorization": "Bearer nope"},
    ],
)
async def test_bad_or_missing_key_is_401_everywhere(
    wsemu: WaveSpeedEmulator, headers: dict[str, str]
) -> None:
    async with api_client(wsemu) as anon:
        calls = [
            anon.post(SUBMIT, json=GOOD, headers=headers),
            anon.get("/api/v3/predictions/0123/result", headers=headers),
            anon.get("/api/v3/predictions/0123", headers=headers),
            anon.post("/api/v3/media/uploads", json={}, headers=headers),
            anon.post("/api/v3/media/upload/binary", files={"file": b"x"}, headers=headers),
        ]
        for call in calls:
            message = assert_envelope_error(await call, 401)
            assert "nope" not in message and KEY not in message
    assert wsemu.tasks() == [] and wsemu.records.uploads == []
    assert wsemu.records.counts["http_401"] == len(calls)
    assert wsemu.records.submits[0].status_code == 401 and wsemu.records.submits[0].account is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"image": None}, "image"),
        ({"face_image": None}, "face_image"),
        ({"image": ""}, "image"),
        ({"image": 123}, "image"),
        ({"target_index": 11}, "target_index"),
        ({"target_index": -1}, "target_index"),
        ({"target_index": "1"}, "target_index"),
        ({"output_format": "gif"}, "output_format"),
        ({"enable_sync_mode": "yes"}, "enable_sync_mode"),
    ],
)
async def test_invalid_input_is_400_and_starts_nothing(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    message = assert_envelope_error(await wsemu_api.post(SUBMIT, json=body), 400)
    assert field in message
    assert wsemu.tasks() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
async def test_body_must_be_a_json_object(wsemu_api: httpx.AsyncClient, raw: bytes) -> None:
    response = await wsemu_api.post(SUBMIT, content=raw, headers={"Content-Type": "application/json"})
    assert_envelope_error(response, 400)


async def test_webhook_with_base64_output_is_refused_with_its_own_body(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    hook = {"webhook": "https://example.test/hook"}
    refused = await wsemu_api.post(SUBMIT, params=hook, json={**GOOD, "enable_base64_output": True})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "webhook callback does not support base64 output, "
        "please use the normal API to use base64 output"
    }
    accepted = await wsemu_api.post(SUBMIT, params=hook, json=GOOD)
    assert accepted.status_code == 200
    assert wsemu.records.submits[-1].query == hook


async def test_unknown_model_route_and_task_are_404(wsemu_api: httpx.AsyncClient) -> None:
    assert_envelope_error(await wsemu_api.post("/api/v3/wavespeed-ai/image_face_swap", json=GOOD), 404)
    assert_envelope_error(await wsemu_api.get("/api/v3/predictions/" + "0" * 32 + "/result"), 404)
    assert_envelope_error(await wsemu_api.get("/nothing-here"), 404)
    assert_envelope_error(await wsemu_api.get("/api/v3/nothing-here"), 405)


async def test_another_accounts_task_is_not_found(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    task_id = (await wsemu_api.post(SUBMIT, json=GOOD)).json()["data"]["id"]
    response = await wsemu_api.get(f"/api/v3/predictions/{task_id}/result", headers=bearer(OTHER_KEY))
    assert_envelope_error(response, 404)


@pytest.mark.parametrize(
    "reference",
    [
        "https://example.com/face.png",
        "ftp://x/y.png",
        "not a url",
        "data:image/png,rawbytes",
        "data:image/png;base64,@@@",
    ],
)
async def test_unreachable_input_fails_the_task_with_1402(
    wsemu_api: httpx.AsyncClient, reference: str
) -> None:
    data = await failed_task(wsemu_api, {**GOOD, "face_image": reference})
    assert data["code"] == TaskErrorCode.MEDIA_ACCESS_FAILED == 1402
    assert data["error"] == "Failed to download image from the provided URL."


async def test_emulator_urls_without_media_fail_with_1402(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    missing = f"{wsemu.base_url}/media/{'a' * 32}/x.png"
    ticket = await wsemu_api.post(
        "/api/v3/media/uploads", json={"filename": "x.png", "size": 3, "content_type": "image/png"}
    )
    not_put_yet = ticket.json()["data"]["download_url"]
    for reference in (missing, not_put_yet):
        assert (await failed_task(wsemu_api, {**GOOD, "image": reference}))["code"] == 1402
    assert (await wsemu_api.get(not_put_yet)).status_code == 404


async def test_undecodable_image_fails_with_1401(wsemu_api: httpx.AsyncClient) -> None:
    data = await failed_task(wsemu_api, {**GOOD, "image": data_uri(b"hello", "text/plain")})
    assert data["code"] == 1401 and data["error"]


async def test_failed_task_mode_reports_1400_and_1401(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.configure(invalid_input=InvalidInputMode.FAILED_TASK)
    missing = await failed_task(wsemu_api, {"face_image": IMAGE})
    assert missing["code"] == 1400 and "image" in missing["error"]
    invalid = await failed_task(wsemu_api, {**GOOD, "target_index": 11})
    assert invalid["code"] == 1401 and "target_index" in invalid["error"]


async def test_upload_ticket_errors(wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient) -> None:
    bad = await wsemu_api.post("/api/v3/media/uploads", json={"filename": "a.png", "size": 3})
    assert "content_type" in assert_envelope_error(bad, 400)
    wsemu.configure(max_upload_bytes=10)
    too_big = {"filename": "a.png", "size": 11, "content_type": "image/png"}
    assert_envelope_error(await wsemu_api.post("/api/v3/media/uploads", json=too_big), 413)
    assert wsemu.records.uploads == []


async def test_binary_upload_errors(wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient) -> None:
    no_file = await wsemu_api.post("/api/v3/media/upload/binary", files={"other": b"x"})
    assert "file" in assert_envelope_error(no_file, 400)
    wsemu.configure(max_upload_bytes=10)
    too_big = await wsemu_api.post("/api/v3/media/upload/binary", files={"file": ("a.png", b"x" * 11)})
    assert_envelope_error(too_big, 413)


async def test_signed_put_refuses_auth_header_wrong_type_and_unknown_url(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    ticket = await wsemu_api.post(
        "/api/v3/media/uploads", json={"filename": "a.png", "size": 3, "content_type": "image/png"}
    )
    url = ticket.json()["data"]["upload"]["url"]
    async with plain_client() as bare:
        with_auth = await bare.put(url, content=b"abc", headers={"Content-Type": "image/png", **bearer(KEY)})
        wrong_type = await bare.put(url, content=b"abc", headers={"Content-Type": "image/jpeg"})
        unknown = await bare.put(f"{wsemu.base_url}/upload/nope", content=b"abc")
    assert (with_auth.status_code, wrong_type.status_code, unknown.status_code) == (400, 403, 403)
    assert "<Code>SignatureDoesNotMatch</Code>" in wrong_type.text
    assert with_auth.headers["content-type"] == "application/xml"
    assert wsemu.records.uploads[0].completed is False
