"""WaveSpeed emulator: injected faults, task failures, slow tasks, sync timeouts, poll timing."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    HttpFault,
    Target,
    WaveSpeedEmulator,
)
from medialab_sandbox.wavespeed.testing import (
    data_uri,
    plain_client,
    poll_result,
    sample_image,
)
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "ws-faults-key"
SUBMIT = f"/api/v3/{FACE_SWAP_MODEL}"
BODY = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("blue"))}
SYNC_TIMEOUT_TEXT = (
    "Sync mode timed out after 0.05 seconds. The prediction is still processing asynchronously."
)


async def submit(api: httpx.AsyncClient, **extra: object) -> str:
    response = await api.post(SUBMIT, json={**BODY, **extra})
    assert response.status_code == 200
    return str(response.json()["data"]["id"])


@pytest.mark.parametrize("code", [429, 500, 502, 503, 401])
async def test_next_submits_fail_then_recover(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient, code: int
) -> None:
    wsemu.faults.fail_submits(code, count=2)
    for _ in range(2):
        response = await wsemu_api.post(SUBMIT, json=BODY)
        assert response.status_code == code
        assert response.json()["code"] == code and response.json()["message"]
    assert wsemu.tasks() == []
    await submit(wsemu_api)
    assert [s.status_code for s in wsemu.records.submits] == [code, code, 200]


async def test_fault_body_and_retry_after_are_configurable(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.faults.fail_submits(429, retry_after=2.5, body={"code": 429, "message": "slow down"})
    wsemu.faults.fail_submits(502, body="<html>502 Bad Gateway</html>")
    limited = await wsemu_api.post(SUBMIT, json=BODY)
    assert (limited.headers["retry-after"], limited.json()["message"]) == ("3", "slow down")
    gateway = await wsemu_api.post(SUBMIT, json=BODY)
    assert gateway.status_code == 502 and gateway.headers["content-type"].startswith("text/html")
    assert gateway.text == "<html>502 Bad Gateway</html>"


async def test_lost_answer_still_creates_the_task(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.faults.fail_submits(504, after_create=True)
    response = await wsemu_api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})
    assert response.status_code == 504
    task_id = wsemu.records.submits[-1].task_id
    assert task_id is not None
    assert (await poll_result(wsemu_api, task_id))["status"] == "completed"
    with pytest.raises(ValueError, match="submits only"):
        wsemu.faults.inject(Target.POLL, HttpFault(status=500, after_create=True))


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429])
async def test_next_polls_fail_then_recover(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient, code: int
) -> None:
    task_id = await submit(wsemu_api)
    wsemu.faults.fail_polls(code, count=3)
    for _ in range(3):
        response = await wsemu_api.get(f"/api/v3/predictions/{task_id}/result")
        assert response.status_code == code and response.json()["code"] == code
    assert (await poll_result(wsemu_api, task_id))["status"] == "completed"
    assert [p.status_code for p in wsemu.records.polls][:3] == [code] * 3


async def test_hanging_requests_time_out_clients_and_are_released_by_reset(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    task_id = await submit(wsemu_api)
    wsemu.faults.hang(Target.POLL, seconds=0.3)
    with pytest.raises(httpx.ReadTimeout):
        await wsemu_api.get(f"/api/v3/predictions/{task_id}/result", timeout=0.05)
    assert (await poll_result(wsemu_api, task_id))["status"] == "completed"

    wsemu.faults.hang(Target.SUBMIT)  # until reset or stop
    stuck = asyncio.create_task(wsemu_api.post(SUBMIT, json=BODY))
    await eventually(lambda: len(wsemu.records.submits) == 1)
    await asyncio.sleep(0.02)
    assert not stuck.done()
    await wsemu.reset()
    assert (await stuck).status_code == 200  # let go, then answered as usual


async def test_download_and_storage_put_faults(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    output = (await poll_result(wsemu_api, await submit(wsemu_api)))["outputs"][0]
    wsemu.faults.inject(Target.DOWNLOAD, HttpFault(status=503))
    assert (await wsemu_api.get(output)).status_code == 503
    assert (await wsemu_api.get(output)).status_code == 200
    ticket = await wsemu_api.post(
        "/api/v3/media/uploads", json={"filename": "a.png", "size": 1, "content_type": "image/png"}
    )
    upload = ticket.json()["data"]["upload"]
    wsemu.faults.inject(Target.STORAGE_PUT, HttpFault(status=500))
    async with plain_client() as bare:
        assert (await bare.put(upload["url"], content=b"x", headers=upload["headers"])).status_code == 500
        assert (await bare.put(upload["url"], content=b"x", headers=upload["headers"])).status_code == 200
    wsemu.faults.inject(Target.UPLOAD, HttpFault(status=503))
    assert (await wsemu_api.post("/api/v3/media/upload/binary", files={"file": b"x"})).status_code == 503


@pytest.mark.parametrize(
    ("code", "message"),
    [(1200, "Content flagged as sensitive."), (1403, None), (5003, "Service busy."), (5000, None)],
)
async def test_next_tasks_fail_with_the_given_code(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient, code: int, message: str | None
) -> None:
    wsemu.faults.fail_tasks(code, message)
    failed = await poll_result(wsemu_api, await submit(wsemu_api))
    assert (failed["status"], failed["code"], failed["outputs"]) == ("failed", code, [])
    assert failed["error"] == (message or failed["error"]) and failed["error"]
    assert (await poll_result(wsemu_api, await submit(wsemu_api)))["status"] == "completed"
    assert (wsemu.records.counts["tasks_failed"], wsemu.records.counts["tasks_completed"]) == (1, 1)


async def test_fail_one_running_task_by_id(wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient) -> None:
    wsemu.hold()
    doomed, spared = await submit(wsemu_api), await submit(wsemu_api)
    assert wsemu.fail_task(doomed, 1403, "No face detected.")
    wsemu.release()
    failed = await poll_result(wsemu_api, doomed)
    assert (failed["code"], failed["error"]) == (1403, "No face detected.")
    assert (await poll_result(wsemu_api, spared))["status"] == "completed"
    assert not wsemu.fail_task(doomed, 1403) and not wsemu.fail_task("unknown", 5000)


async def test_slow_tasks_finish_later(wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient) -> None:
    wsemu.faults.slow_tasks(0.3)
    slow, quick = await submit(wsemu_api), await submit(wsemu_api)
    assert (await poll_result(wsemu_api, quick))["status"] == "completed"
    view = wsemu.task(slow)
    assert view is not None and view.status == "processing"
    done = await poll_result(wsemu_api, slow)
    assert done["timings"]["inference"] >= 300


async def test_sync_mode_times_out_with_5004_and_the_task_goes_on(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.configure(sync_timeout_seconds=0.05, processing_seconds=0.2)
    response = await wsemu_api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["status"], data["code"], data["error"]) == ("processing", 5004, SYNC_TIMEOUT_TEXT)
    assert data["urls"]["get"].endswith(f"/predictions/{data['id']}/result")
    assert (await poll_result(wsemu_api, data["id"]))["status"] == "completed"


async def test_forced_sync_timeout_answers_at_once(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.faults.time_out_syncs()
    forced = (await wsemu_api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert forced["code"] == 5004 and forced["outputs"] == []
    normal = (await wsemu_api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert normal["status"] == "completed" and "code" not in normal


async def test_sync_failure_answers_the_failed_task(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.faults.fail_tasks(1200)
    data = (await wsemu_api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert (data["status"], data["code"]) == ("failed", 1200)


async def test_poll_times_are_recorded_per_task(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.configure(processing_seconds=0.15)
    task_id = await submit(wsemu_api)
    wsemu.faults.fail_polls(503)
    assert (await wsemu_api.get(f"/api/v3/predictions/{task_id}")).status_code == 503
    for _ in range(3):  # as many polls as the test makes, however slow the machine
        await asyncio.sleep(0.04)
        await wsemu_api.get(f"/api/v3/predictions/{task_id}")
    times = wsemu.records.poll_times(task_id)
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.035  # asyncio may wake a sleeper up to a clock tick early
    assert wsemu.records.polls[0].status_code == 503  # failed polls count too


async def test_a_submit_can_create_its_task_then_hang_until_the_client_gives_up(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.faults.hang(Target.SUBMIT, after_create=True)  # held until reset or stop
    with pytest.raises(httpx.ReadTimeout):
        await wsemu_api.post(SUBMIT, json=BODY, timeout=0.2)
    [task] = wsemu.tasks()
    assert wsemu.records.submits[-1].task_id == task.id
    assert (await poll_result(wsemu_api, task.id))["status"] == "completed"
    with pytest.raises(ValueError, match="submits only"):
        wsemu.faults.hang(Target.POLL, after_create=True)
