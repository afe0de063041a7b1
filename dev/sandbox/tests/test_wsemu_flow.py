"""WaveSpeed emulator: the happy paths, byte for byte (upload → submit → poll → download)."""

from __future__ import annotations

import base64
import io
import re

import httpx
import pytest
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    FACE_SWAP_PRO_MODEL,
    EmulatorConfig,
    WaveSpeedEmulator,
)
from medialab_sandbox.wavespeed.testing import data_uri, plain_client, poll_result, sample_image
from PIL import Image, ImageChops

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "ws-flow-key"
SUBMIT = f"/api/v3/{FACE_SWAP_MODEL}"
ENVELOPE_KEYS = {
    "id",
    "model",
    "outputs",
    "urls",
    "has_nsfw_contents",
    "status",
    "created_at",
    "error",
    "executionTime",
    "timings",
}


@pytest.fixture(scope="module")
def wsemu_unstarted() -> WaveSpeedEmulator:
    return WaveSpeedEmulator([KEY], config=EmulatorConfig(processing_seconds=0.02))


async def ticket_upload(api: httpx.AsyncClient, data: bytes, filename: str, mime: str) -> str:
    ticket = await api.post(
        "/api/v3/media/uploads",
        json={"filename": filename, "size": len(data), "content_type": mime},
    )
    assert ticket.status_code == 200
    body = ticket.json()
    assert (body["code"], body["message"]) == (200, "success")
    upload = body["data"]["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": mime}
    # The signed URL takes no Authorization header: use a bare client.
    async with plain_client() as bare:
        put = await bare.put(upload["url"], content=data, headers=upload["headers"])
    assert put.status_code == 200
    return str(body["data"]["download_url"])


async def binary_upload(api: httpx.AsyncClient, data: bytes, filename: str, mime: str) -> str:
    response = await api.post("/api/v3/media/upload/binary", files={"file": (filename, data, mime)})
    assert response.status_code == 200
    body = response.json()["data"]
    assert (body["type"], body["filename"], body["size"]) == ("image", filename, len(data))
    assert "upload" not in body
    return str(body["download_url"])


async def test_upload_submit_poll_download_round_trip(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    target = sample_image("red", (80, 60))
    face = sample_image("blue", (30, 30), "JPEG")
    target_url = await ticket_upload(wsemu_api, target, "target.png", "image/png")
    face_url = await binary_upload(wsemu_api, face, "face.jpg", "image/jpeg")
    assert target_url.startswith(wsemu.base_url) and face_url.startswith(wsemu.base_url)
    assert (await wsemu_api.get(target_url)).content == target
    assert (await wsemu_api.get(face_url)).content == face

    body = {"image": target_url, "face_image": face_url, "output_format": "png"}
    submitted = await wsemu_api.post(SUBMIT, json=body)
    assert submitted.status_code == 200
    envelope = submitted.json()
    assert (envelope["code"], envelope["message"]) == (200, "success")
    data = envelope["data"]
    assert set(data) == ENVELOPE_KEYS  # no task `code` unless failed
    task_id = data["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    assert data["model"] == FACE_SWAP_MODEL
    assert data["status"] == "created"
    assert (data["outputs"], data["has_nsfw_contents"], data["error"]) == ([], [], "")
    assert (data["executionTime"], data["timings"]) == (0, {"inference": 0})
    assert data["urls"]["get"] == f"{wsemu.base_url}/api/v3/predictions/{task_id}/result"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["created_at"])

    done = await poll_result(wsemu_api, task_id)
    assert done["status"] == "completed"
    assert done["has_nsfw_contents"] == [False]
    assert done["timings"]["inference"] >= 15 and done["executionTime"] >= 15
    (output_url,) = done["outputs"]
    output = await wsemu_api.get(output_url)
    assert output.headers["content-type"] == "image/png"
    swapped = Image.open(io.BytesIO(output.content))
    assert (swapped.format, swapped.size) == ("PNG", (80, 60))
    original = Image.open(io.BytesIO(target)).convert("RGB")
    assert ImageChops.difference(swapped.convert("RGB"), original).getbbox() is not None
    assert swapped.getpixel((0, 0))[:3] == (255, 0, 0)  # outside the face: untouched
    assert (await wsemu_api.get(output_url)).content == output.content

    assert [(s.model, s.body, s.task_id) for s in wsemu.records.submits] == [(FACE_SWAP_MODEL, body, task_id)]
    assert [(u.flow, u.completed, u.size) for u in wsemu.records.uploads] == [
        ("ticket", True, len(target)),
        ("binary", True, len(face)),
    ]
    assert wsemu.records.counts["tasks_completed"] == 1
    assert len(wsemu.records.downloads) == 4


@pytest.mark.parametrize(
    ("output_format", "pil_format", "mime"),
    [
        (None, "JPEG", "image/jpeg"),
        ("jpeg", "JPEG", "image/jpeg"),
        ("png", "PNG", "image/png"),
        ("webp", "WEBP", "image/webp"),
    ],
)
async def test_output_format_and_size(
    wsemu_api: httpx.AsyncClient, output_format: str | None, pil_format: str, mime: str
) -> None:
    body = {"image": data_uri(sample_image("green", (50, 70))), "face_image": data_uri(sample_image())}
    if output_format:
        body["output_format"] = output_format
    task_id = (await wsemu_api.post(SUBMIT, json=body)).json()["data"]["id"]
    output = await wsemu_api.get((await poll_result(wsemu_api, task_id))["outputs"][0])
    assert output.headers["content-type"] == mime
    image = Image.open(io.BytesIO(output.content))
    assert (image.format, image.size) == (pil_format, (50, 70))


async def test_base64_output_is_naked_and_sync_mode_answers_completed(
    wsemu_api: httpx.AsyncClient,
) -> None:
    body = {
        "image": data_uri(sample_image("yellow", (40, 40), "JPEG"), "image/jpeg"),
        "face_image": data_uri(sample_image("black")),
        "output_format": "webp",
        "enable_base64_output": True,
        "enable_sync_mode": True,
    }
    response = await wsemu_api.post(SUBMIT, json=body)
    data = response.json()["data"]
    assert data["status"] == "completed"
    (encoded,) = data["outputs"]
    assert not encoded.startswith("data:") and "\n" not in encoded
    image = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
    assert (image.format, image.size) == ("WEBP", (40, 40))
    # Polling the same task gives the same base64 output.
    assert (await poll_result(wsemu_api, data["id"]))["outputs"] == [encoded]


async def test_both_result_paths_and_pro_model_and_client_headers(wsemu_api: httpx.AsyncClient) -> None:
    attribution = {"X-Client-Name": "wavespeed-python", "X-Client-Version": "2.0.5"}
    body = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("white"))}
    submitted = await wsemu_api.post(f"/api/v3/{FACE_SWAP_PRO_MODEL}", json=body, headers=attribution)
    task_id = submitted.json()["data"]["id"]
    done = await poll_result(wsemu_api, task_id)
    bare = await wsemu_api.get(f"/api/v3/predictions/{task_id}")
    assert bare.json() == {"code": 200, "message": "success", "data": done}
    assert done["model"] == FACE_SWAP_PRO_MODEL


async def test_outputs_served_without_auth_and_polls_recorded(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    body = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("white"))}
    task_id = (await wsemu_api.post(SUBMIT, json=body)).json()["data"]["id"]
    done = await poll_result(wsemu_api, task_id)
    async with plain_client() as bare:
        assert (await bare.get(done["outputs"][0])).status_code == 200
    polls = [p for p in wsemu.records.polls if p.task_id == task_id]
    assert polls and all(p.account == KEY and p.status_code == 200 for p in polls)
    assert polls[-1].task_status == "completed"
    assert wsemu.records.poll_times(task_id) == [p.at for p in polls]
