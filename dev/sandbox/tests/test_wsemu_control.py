"""WaveSpeed emulator: the `/_emu` control surface, its client, and the standalone process."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    EmulatorConfig,
    HangFault,
    Target,
    WaveSpeedEmulator,
    WaveSpeedEmulatorControl,
)
from medialab_sandbox.wavespeed.testing import (
    api_client,
    bearer,
    data_uri,
    plain_client,
    poll_result,
    sample_image,
)
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "ws-control-key"
SUBMIT = f"/api/v3/{FACE_SWAP_MODEL}"
BODY = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("blue"))}


@pytest_asyncio.fixture(loop_scope="module")
async def control(wsemu: WaveSpeedEmulator) -> AsyncIterator[WaveSpeedEmulatorControl]:
    async with WaveSpeedEmulatorControl(wsemu.base_url) as client:
        yield client


async def submit(api: httpx.AsyncClient) -> httpx.Response:
    return await api.post(SUBMIT, json=BODY)


async def test_config_limits_and_reset_over_http(
    wsemu: WaveSpeedEmulator, control: WaveSpeedEmulatorControl, wsemu_api: httpx.AsyncClient
) -> None:
    config = await control.configure(processing_seconds=0.02, invalid_input="failed_task")
    assert (config.processing_seconds, wsemu.config.invalid_input) == (0.02, "failed_task")
    with pytest.raises(httpx.HTTPStatusError) as bad:
        await control.configure(processing_seconds=-1)
    assert bad.value.response.status_code == 400
    assert wsemu.config.processing_seconds == 0.02  # nothing applied from a bad patch
    with pytest.raises(httpx.HTTPStatusError):
        await control.configure(no_such_knob=1)

    state = await control.set_limits(KEY, max_concurrency=3, starts_per_minute=1)
    assert state.accounts[KEY].limits.max_concurrency == 3
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        await control.set_limits("nobody", max_concurrency=1)
    assert unknown.value.response.status_code == 404
    assert (await submit(wsemu_api)).status_code == 200
    assert (await submit(wsemu_api)).status_code == 429

    state = await control.reset()
    assert state.config == EmulatorConfig(processing_seconds=0.01)
    assert state.accounts[KEY].limits.starts_per_minute == 500
    assert state.counts == {} and wsemu.tasks() == []


async def test_fault_knobs_over_http(
    wsemu: WaveSpeedEmulator, control: WaveSpeedEmulatorControl, wsemu_api: httpx.AsyncClient
) -> None:
    await control.fail_submits(503, retry_after=1)
    await control.fail_polls(504, count=2)
    await control.fail_tasks(1200, "flagged")
    await control.slow_tasks(0.0, count=2)
    await control.time_out_syncs()
    state = await control.hang(Target.DOWNLOAD, seconds=0.01)
    assert len(state.pending.faults[Target.POLL]) == 2
    assert state.pending.faults[Target.DOWNLOAD] == [HangFault(seconds=0.01)]
    assert (state.pending.task_failures[0].code, state.pending.sync_timeouts) == (1200, 1)

    assert (await submit(wsemu_api)).status_code == 503
    sync = (await wsemu_api.post(SUBMIT, json={**BODY, "enable_sync_mode": True})).json()["data"]
    assert sync["code"] == 5004
    for _ in range(2):
        assert (await wsemu_api.get(f"/api/v3/predictions/{sync['id']}")).status_code == 504
    assert (await poll_result(wsemu_api, sync["id"]))["code"] == 1200


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        ("/_emu/faults/upload", {"kind": "hang", "seconds": -1}),
        ("/_emu/faults/poll", {"kind": "http", "status": 500, "after_create": True}),
        ("/_emu/faults/nowhere", {"kind": "http", "status": 500}),
        ("/_emu/faults/poll", {"kind": "http", "status": 200}),
    ],
)
async def test_bad_knob_requests_are_400(
    wsemu_api: httpx.AsyncClient, path: str, fault: dict[str, object]
) -> None:
    response = await wsemu_api.post(path, json={"fault": fault})
    assert response.status_code == 400 and response.json()["code"] == 400


async def test_hold_fail_task_and_records_over_http(
    control: WaveSpeedEmulatorControl, wsemu_api: httpx.AsyncClient
) -> None:
    assert (await control.hold()).held
    task_id = (await submit(wsemu_api)).json()["data"]["id"]
    view = await control.fail_task(task_id, 5003, "busy")
    assert view.id == task_id and view.status in ("created", "processing")
    assert not (await control.release()).held
    assert (await poll_result(wsemu_api, task_id))["code"] == 5003
    with pytest.raises(httpx.HTTPStatusError) as over:
        await control.fail_task(task_id, 5003)
    assert over.value.response.status_code == 409

    await wsemu_api.post("/api/v3/media/upload/binary", files={"file": ("f.png", sample_image())})
    (submitted,) = await control.submits()
    assert (submitted.model, submitted.body, submitted.task_id) == (FACE_SWAP_MODEL, BODY, task_id)
    assert [u.flow for u in await control.uploads()] == ["binary"]
    polls = await control.polls(task_id)
    assert polls and await control.poll_times(task_id) == [p.at for p in polls]
    assert await control.downloads() == []
    assert [t.id for t in await control.tasks()] == [task_id]
    assert (await control.task(task_id)).code == 5003
    state = await control.state()
    assert state.max_processing_seen == 1 and state.counts["tasks_failed"] == 1


async def test_standalone_process_serves_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "medialab_sandbox.wavespeed",
        "--port",
        "0",
        "--keys",
        "cli-a,cli-b",
        "--processing-seconds",
        "0.01",
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode()
        base_url = line.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with plain_client(base_url=base_url, headers=bearer("cli-b")) as api:
            task_id = (await submit(api)).json()["data"]["id"]
            assert (await poll_result(api, task_id))["status"] == "completed"
        async with WaveSpeedEmulatorControl(base_url) as control:
            state = await control.state()
        assert sorted(state.accounts) == ["cli-a", "cli-b"]
        assert state.counts["tasks_completed"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0


async def test_stop_lets_go_of_hanging_requests() -> None:
    emu = WaveSpeedEmulator(["k"])
    await emu.start()
    emu.faults.hang(Target.POLL)
    async with api_client(emu, "k") as api:
        stuck = asyncio.create_task(api.get("/api/v3/predictions/x/result"))
        await eventually(lambda: len(emu.records.polls) == 1)
        await asyncio.wait_for(emu.stop(), timeout=5)
        assert (await stuck).status_code == 404
    with pytest.raises(RuntimeError, match="starts once"):
        await emu.start()
