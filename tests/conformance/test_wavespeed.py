"""wavespeed-runner and the WaveSpeed emulator against the WaveSpeed snapshots (issue 25 item 2)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from medialab_sandbox.snapshots import invalid_requests, snapshot, valid_requests
from medialab_sandbox.wavespeed import EmulatorConfig, WaveSpeedEmulator
from medialab_sandbox.wavespeed.testing import api_client, plain_client, poll_result, sample_image
from wavespeed_runner.api import WaveSpeedClient, WaveSpeedRejected, parse_prediction
from wavespeed_runner.jobs import arguments

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

KEY = "ws-conformance-key"
FACE_SWAP = snapshot("wavespeed-ai/image-face-swap")
RESULT = snapshot("wavespeed prediction result")
LIST = snapshot("wavespeed prediction list")
TICKET = snapshot("wavespeed media upload ticket")
BINARY = snapshot("wavespeed media upload binary")
BALANCE = snapshot("wavespeed balance")
API = "https://api.wavespeed.ai"


def test_runner_bodies_match_the_face_swap_snapshot() -> None:
    body = arguments("https://example.com/face.png", "https://example.com/target.png")
    assert FACE_SWAP.request_errors(body) == []


@pytest.mark.parametrize("answer", FACE_SWAP.examples.response + RESULT.examples.response)
def test_runner_reads_the_prediction_examples(answer: dict[str, Any]) -> None:
    data = answer["data"]
    prediction = parse_prediction(data, "poll")
    assert (prediction.task_id, prediction.status) == (data["id"], data["status"])
    assert list(prediction.outputs) == data["outputs"]
    assert prediction.code == data.get("code")


def test_runner_refuses_a_prediction_without_id() -> None:
    answer = dict(RESULT.examples.response[0])
    answer["data"] = {k: v for k, v in answer["data"].items() if k != "id"}
    assert RESULT.response_errors(answer)
    with pytest.raises(WaveSpeedRejected):
        parse_prediction(answer["data"], "poll")


def _client(path: str, answer: dict[str, Any]) -> WaveSpeedClient:
    def serve(request: httpx.Request) -> httpx.Response:
        assert request.url.path == path
        return httpx.Response(200, json=answer)

    return WaveSpeedClient(httpx.AsyncClient(transport=httpx.MockTransport(serve)), KEY, api_base=API)


@MODULE_LOOP
@pytest.mark.parametrize("answer", RESULT.examples.response)
async def test_runner_unwraps_the_result_envelope(answer: dict[str, Any]) -> None:
    task_id = answer["data"]["id"]
    client = _client(f"/api/v3/predictions/{task_id}/result", answer)
    prediction = await client.result(task_id, time.monotonic() + 5)
    assert prediction.status == answer["data"]["status"]
    await client.aclose()


# ----- the emulator, over HTTP ---------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulator() -> AsyncIterator[WaveSpeedEmulator]:
    # The default Silver level: these tests start many tasks within a minute.
    async with WaveSpeedEmulator([KEY], config=EmulatorConfig(processing_seconds=0.01)) as emu:
        yield emu


@pytest_asyncio.fixture(loop_scope="module")
async def api(emulator: WaveSpeedEmulator) -> AsyncIterator[httpx.AsyncClient]:
    await emulator.reset()
    async with api_client(emulator, KEY) as client:
        yield client


async def _upload(api: httpx.AsyncClient) -> str:
    data = sample_image()
    ticket = await api.post("/api/v3/media/uploads", json=TICKET.examples.request[0] | {"size": len(data)})
    assert ticket.status_code == 200
    assert TICKET.response_errors(ticket.json()) == []
    target = ticket.json()["data"]["upload"]
    async with plain_client() as storage:  # the signed URL carries its own authorisation
        put = await storage.put(target["url"], content=data, headers=target["headers"])
    assert put.is_success
    return str(ticket.json()["data"]["download_url"])


@MODULE_LOOP
async def test_emulator_uploads_answer_in_shape(api: httpx.AsyncClient) -> None:
    await _upload(api)
    binary = await api.post(
        "/api/v3/media/upload/binary", files={"file": ("face.png", sample_image(), "image/png")}
    )
    assert binary.status_code == 200
    assert BINARY.response_errors(binary.json()) == []


@MODULE_LOOP
async def test_emulator_runs_the_example_and_answers_in_shape(api: httpx.AsyncClient) -> None:
    url = await _upload(api)
    body = FACE_SWAP.examples.request[0] | {"image": url, "face_image": url}
    submitted = await api.post(f"/api/v3/{FACE_SWAP.endpoint}", json=body)
    assert submitted.status_code == 200, submitted.text
    assert FACE_SWAP.response_errors(submitted.json()) == []
    task_id = submitted.json()["data"]["id"]
    await poll_result(api, task_id)
    result = await api.get(f"/api/v3/predictions/{task_id}/result")
    assert RESULT.response_errors(result.json()) == []
    assert result.json()["data"]["status"] == "completed"

    ask = {k: v for k, v in LIST.examples.request[0].items() if k != "created_after"}
    listed = await api.post("/api/v3/predictions", json=ask)
    assert listed.status_code == 200, listed.text
    assert LIST.response_errors(listed.json()) == []
    assert [item["id"] for item in listed.json()["data"]["items"]] == [task_id]


@MODULE_LOOP
async def test_emulator_reports_a_balance_in_shape(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/v3/balance")
    assert answer.status_code == 200
    assert BALANCE.response_errors(answer.json()) == []


@MODULE_LOOP
async def test_emulator_accepts_every_value_the_face_swap_snapshot_allows(api: httpx.AsyncClient) -> None:
    url = await _upload(api)
    example = FACE_SWAP.examples.request[0] | {"image": url, "face_image": url}
    refused = []
    for label, body in valid_requests(FACE_SWAP, example):
        submitted = await api.post(f"/api/v3/{FACE_SWAP.endpoint}", json=body)
        if submitted.status_code != 200 or FACE_SWAP.response_errors(submitted.json()):
            refused.append(f"{label}: HTTP {submitted.status_code} {submitted.text[:200]}")
            continue
        data = await poll_result(api, submitted.json()["data"]["id"])
        if data["status"] != "completed":
            refused.append(f"{label}: task {data['status']} {data.get('error')}")
    assert refused == []


@MODULE_LOOP
async def test_emulator_refuses_what_the_face_swap_snapshot_refuses(
    emulator: WaveSpeedEmulator, api: httpx.AsyncClient
) -> None:
    url = await _upload(api)
    example = FACE_SWAP.examples.request[0] | {"image": url, "face_image": url}
    accepted = []
    for label, body in invalid_requests(FACE_SWAP, example):
        submitted = await api.post(f"/api/v3/{FACE_SWAP.endpoint}", json=body)
        if submitted.status_code == 400:
            continue
        data = await poll_result(api, submitted.json()["data"]["id"])
        if not (data["status"] == "failed" and data.get("code") in (1400, 1401)):
            accepted.append(label)
    assert accepted == []


@MODULE_LOOP
async def test_emulator_refuses_what_the_list_snapshot_refuses(api: httpx.AsyncClient) -> None:
    accepted = []
    for label, body in invalid_requests(LIST, LIST.examples.request[0]):
        if (await api.post("/api/v3/predictions", json=body)).status_code != 400:
            accepted.append(label)
    assert accepted == []
