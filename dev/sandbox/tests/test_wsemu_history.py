"""WaveSpeed emulator: the prediction list (POST /api/v3/predictions), how a client finds a task
whose submit answer it never got."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    FACE_SWAP_PRO_MODEL,
    HttpFault,
    Target,
    WaveSpeedEmulator,
)
from medialab_sandbox.wavespeed.testing import data_uri, sample_image

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "ws-history-key"
HISTORY = "/api/v3/predictions"
BODY = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("blue"))}


async def submit(api: httpx.AsyncClient, model: str = FACE_SWAP_MODEL, **extra: object) -> str:
    response = await api.post(f"/api/v3/{model}", json={**BODY, **extra})
    assert response.status_code == 200
    return str(response.json()["data"]["id"])


async def test_lists_the_accounts_tasks_newest_first_with_filters_and_pages(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    first = await submit(wsemu_api)
    second = await submit(wsemu_api, target_index=1)
    pro = await submit(wsemu_api, FACE_SWAP_PRO_MODEL)
    answer = await wsemu_api.post(HISTORY, json={"page": 1, "page_size": 100})
    assert answer.status_code == 200 and answer.json()["code"] == 200
    data = answer.json()["data"]
    assert (data["page"], data["total"]) == (1, 3)
    assert [item["id"] for item in data["items"]] == [pro, second, first]
    assert "inputs" not in data["items"][0]  # only when asked for
    assert data["items"][0]["urls"]["get"].endswith(f"/api/v3/predictions/{pro}/result")

    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ask = {"page": 1, "page_size": 1, "model": FACE_SWAP_MODEL, "created_after": since}
    page = (await wsemu_api.post(HISTORY, json={**ask, "include_inputs": True})).json()["data"]
    assert (page["total"], [i["id"] for i in page["items"]]) == (2, [second])
    assert page["items"][0]["inputs"] == {**BODY, "target_index": 1}
    later = (await wsemu_api.post(HISTORY, json={**ask, "page": 2})).json()["data"]
    assert [i["id"] for i in later["items"]] == [first]
    future = datetime.now(UTC) + timedelta(minutes=1)
    none = await wsemu_api.post(HISTORY, json={**ask, "created_after": future.isoformat()})
    assert none.json()["data"]["items"] == []


async def test_the_list_needs_the_accounts_key(wsemu: WaveSpeedEmulator) -> None:
    async with httpx.AsyncClient(base_url=wsemu.base_url) as stranger:
        answer = await stranger.post(HISTORY, json={"page": 1, "page_size": 10})
    assert answer.status_code == 401


async def test_a_server_ignoring_include_inputs_and_a_failing_list_are_knobs(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    await submit(wsemu_api)
    wsemu.configure(history_inputs=False)
    ask = {"page": 1, "page_size": 10, "include_inputs": True}
    [item] = (await wsemu_api.post(HISTORY, json=ask)).json()["data"]["items"]
    assert "inputs" not in item
    wsemu.faults.inject(Target.HISTORY, HttpFault(status=503))
    assert (await wsemu_api.post(HISTORY, json=ask)).status_code == 503
    assert (await wsemu_api.post(HISTORY, json=ask)).status_code == 200
    assert wsemu.records.counts["faults_history"] == 1


@pytest.mark.parametrize("body", [{"page": 1}, {"page": 0, "page_size": 10}, {"page": 1, "page_size": 101}])
async def test_page_and_page_size_are_required_and_bounded(
    wsemu_api: httpx.AsyncClient, body: dict[str, int]
) -> None:
    answer = await wsemu_api.post(HISTORY, json=body)
    assert answer.status_code == 400 and answer.json()["code"] == 400
