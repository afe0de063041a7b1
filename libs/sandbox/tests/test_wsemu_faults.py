"""WaveSpeed emulator: injected faults, task failures, slow tasks, sync timeouts, poll timing."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    EmulatorConfig,
    HttpFault,
    Target,
    WaveSpeedEmulator,
)
from medialab_sandbox.wavespeed.testing import (
    api_client,
    data_uri,
    plain_client,
    poll_result,
    sample_image,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "ws-faults-key"
SUBMIT = f"/api/v3/{FACE_SWAP_MODEL}"
BODY = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("blue"))}
SYNC_TIMEOUT_TEXT = (
    "Sync mode timed out after 0.05 seconds. The prediction is still processing asynchronously."
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def emu() -> AsyncIterator[WaveSpeedEmulator]:
    async with WaveSpeedEmulator([KEY], config=EmulatorConfig(processing_seconds=0.01)) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def fresh(emu: WaveSpeedEmulator) -> None:
    """One emulator per module (start/stop costs 0.2 s); each test starts from a reset."""
    await emu.reset()


@pytest_asyncio.fixture(loop_scope="module")
async def api(emu: WaveSpeedEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(emu, KEY) as client:
        yield client


async def submit(api: httpx.AsyncClient, **extra: object) -> str:
    response = await api.post(SUBMIT, json={**BODY, **extra})
    assert response.status_code == 200
    return str(response.json()["data"]["id"])


@pytest.mark.parametrize("code", [429, 500, 502, 503, 401])
async def test_next_submits_fail_then_recover(
    emu: WaveSpeedEmulator, api: httpx.AsyncClient, code: int
) -> None:
    emu.faults.fail_submits(code, count=2)
    for _ in range(2):
        response = await api.post(SUBMIT, json=BODY)
        assert response.status_code == code
        assert response.json()["code"] == code and response.json()["message"]
    assert emu.tasks() == []
    await submit(api)
    assert [s.status_code for s in emu.records.submits] == [code, code, 200]


async def test_fault_body_and_retry_after_are_configurable(
    emu: WaveSpeedEmulator, api: httpx.AsyncClient
) -> None:
    emu.faults.fail_submits(429, retry_after=2.5, body={"code": 429, "message": "slow down"})
    emu.faults.fail_submits(502, body="<html>502 Bad Gateway</html>")
    limited = await api.post(SUBMIT, json=BODY)
    assert (limited.headers["retry-after"], limited.json()["message"]) == ("3", "slow down")
    gateway = await api.post(SUBMIT, json=BODY)
    assert gateway.status_code == 502 and gateway.headers["content-type"].startswith("text/html")
    assert gateway.text == "<html>502 Bad Gateway</html>"


async def test_lost_answer_still_creates_the_task(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.fail_submits(504, after_create=True)
    response = await api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})
    assert response.status_code == 504
    task_id = emu.records.submits[-1].task_id
    assert task_id is not None
    assert (await poll_result(api, task_id))["status"] == "completed"
    with pytest.raises(ValueError, match="submits only"):
        emu.faults.inject(Target.POLL, HttpFault(status=500, after_create=True))


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429])
async def test_next_polls_fail_then_recover(
    emu: WaveSpeedEmulator, api: httpx.AsyncClient, code: int
) -> None:
    task_id = await submit(api)
    emu.faults.fail_polls(code, count=3)
    for _ in range(3):
        response = await api.get(f"/api/v3/predictions/{task_id}/result")
        assert response.status_code == code and response.json()["code"] == code
    assert (await poll_result(api, task_id))["status"] == "completed"
    assert [p.status_code for p in emu.records.polls][:3] == [code] * 3


async def test_hanging_requests_time_out_clients_and_are_released_by_reset(
    emu: WaveSpeedEmulator, api: httpx.AsyncClient
) -> None:
    task_id = await submit(api)
    emu.faults.hang(Target.POLL, seconds=0.3)
    with pytest.raises(httpx.ReadTimeout):
        await api.get(f"/api/v3/predictions/{task_id}/result", timeout=0.05)
    assert (await poll_result(api, task_id))["status"] == "completed"

    emu.faults.hang(Target.SUBMIT)  # until reset or stop
    stuck = asyncio.create_task(api.post(SUBMIT, json=BODY))
    await wait_until(lambda: len(emu.records.submits) == 1)
    await asyncio.sleep(0.02)
    assert not stuck.done()
    await emu.reset()
    assert (await stuck).status_code == 200  # let go, then answered as usual


async def test_download_and_storage_put_faults(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    output = (await poll_result(api, await submit(api)))["outputs"][0]
    emu.faults.inject(Target.DOWNLOAD, HttpFault(status=503))
    assert (await api.get(output)).status_code == 503
    assert (await api.get(output)).status_code == 200
    ticket = await api.post(
        "/api/v3/media/uploads", json={"filename": "a.png", "size": 1, "content_type": "image/png"}
    )
    upload = ticket.json()["data"]["upload"]
    emu.faults.inject(Target.STORAGE_PUT, HttpFault(status=500))
    async with plain_client() as bare:
        assert (await bare.put(upload["url"], content=b"x", headers=upload["headers"])).status_code == 500
        assert (await bare.put(upload["url"], content=b"x", headers=upload["headers"])).status_code == 200
    emu.faults.inject(Target.UPLOAD, HttpFault(status=503))
    assert (await api.post("/api/v3/media/upload/binary", files={"file": b"x"})).status_code == 503


@pytest.mark.parametrize(
    ("code", "message"),
    [(1200, "Content flagged as sensitive."), (1403, None), (5003, "Service busy."), (5000, None)],
)
async def test_next_tasks_fail_with_the_given_code(
    emu: WaveSpeedEmulator, api: httpx.AsyncClient, code: int, message: str | None
) -> None:
    emu.faults.fail_tasks(code, message)
    failed = await poll_result(api, await submit(api))
    assert (failed["status"], failed["code"], failed["outputs"]) == ("failed", code, [])
    assert failed["error"] == (message or failed["error"]) and failed["error"]
    assert (await poll_result(api, await submit(api)))["status"] == "completed"
    assert (emu.records.counts["tasks_failed"], emu.records.counts["tasks_completed"]) == (1, 1)


async def test_fail_one_running_task_by_id(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    emu.hold()
    doomed, spared = await submit(api), await submit(api)
    assert emu.fail_task(doomed, 1403, "No face detected.")
    emu.release()
    failed = await poll_result(api, doomed)
    assert (failed["code"], failed["error"]) == (1403, "No face detected.")
    assert (await poll_result(api, spared))["status"] == "completed"
    assert not emu.fail_task(doomed, 1403) and not emu.fail_task("unknown", 5000)


async def test_slow_tasks_finish_later(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.slow_tasks(0.3)
    slow, quick = await submit(api), await submit(api)
    assert (await poll_result(api, quick))["status"] == "completed"
    view = emu.task(slow)
    assert view is not None and view.status == "processing"
    done = await poll_result(api, slow)
    assert done["timings"]["inference"] >= 300


async def test_sync_mode_times_out_with_5004_and_the_task_goes_on(
    emu: WaveSpeedEmulator, api: httpx.AsyncClient
) -> None:
    emu.configure(sync_timeout_seconds=0.05, processing_seconds=0.2)
    response = await api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["status"], data["code"], data["error"]) == ("processing", 5004, SYNC_TIMEOUT_TEXT)
    assert data["urls"]["get"].endswith(f"/predictions/{data['id']}/result")
    assert (await poll_result(api, data["id"]))["status"] == "completed"


async def test_forced_sync_timeout_answers_at_once(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.time_out_syncs()
    forced = (await api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert forced["code"] == 5004 and forced["outputs"] == []
    normal = (await api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert normal["status"] == "completed" and "code" not in normal


async def test_sync_failure_answers_the_failed_task(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.fail_tasks(1200)
    data = (await api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert (data["status"], data["code"]) == ("failed", 1200)


async def test_poll_times_are_recorded_per_task(emu: WaveSpeedEmulator, api: httpx.AsyncClient) -> None:
    emu.configure(processing_seconds=0.15)
    task_id = await submit(api)
    emu.faults.fail_polls(503)
    assert (await api.get(f"/api/v3/predictions/{task_id}")).status_code == 503
    await asyncio.sleep(0.04)
    await poll_result(api, task_id, interval=0.04)
    times = emu.records.poll_times(task_id)
    assert len(times) >= 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.035  # asyncio may wake a sleeper up to a clock tick early
    assert emu.records.polls[0].status_code == 503  # failed polls count too
