"""fal emulator: the /_emu control endpoints through FalEmulatorControl, in-process and standalone."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from medialab_sandbox.fal import (
    FalEmulator,
    FalEmulatorControl,
    KeyConcurrency,
    Phase,
    ScriptedReply,
    content_policy_violation,
    infra_error,
    rate_limited,
)
from medialab_sandbox.fal.testing import key_header, run_request, wait_completed

KEY = "key-id:key-secret"
AUTH = key_header(KEY)
LLM = "openrouter/router"
LLM_MODEL = "google/gemini-2.5-flash"
NANO = "fal-ai/nano-banana"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def control(falemu_server: FalEmulator) -> AsyncIterator[FalEmulatorControl]:
    async with FalEmulatorControl(falemu_server.base_url) as client:
        yield client


async def submit(fal: FalEmulator, http: httpx.AsyncClient, model_id: str = LLM) -> httpx.Response:
    return await http.post(
        f"{fal.queue_base}/{model_id}", json={"model": LLM_MODEL, "prompt": "x"}, headers=AUTH
    )


async def test_submit_and_job_faults(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, control: FalEmulatorControl
) -> None:
    await control.fail_submits(rate_limited(), model=LLM)
    await control.fail_jobs(content_policy_violation("x"))

    rejected = await submit(falemu, falemu_http)
    moderated = await run_request(
        falemu_http, falemu.queue_base, LLM, {"model": LLM_MODEL, "prompt": "x"}, KEY
    )

    assert rejected.status_code == 429
    assert moderated.status_code == 422
    records = await control.submits(model=LLM)
    assert [r.rejected_status for r in records] == [429, None]
    assert records[1].body == {"model": LLM_MODEL, "prompt": "x"}


async def test_poll_hang_slow_and_latency(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, control: FalEmulatorControl
) -> None:
    await control.set_latency(run_seconds=5.0, model=NANO)
    await control.slow_jobs(0.0, model=NANO)
    fast = (await submit(falemu, falemu_http, NANO)).json()
    slow = (await submit(falemu, falemu_http, NANO)).json()
    await control.fail_polls(infra_error(503), phases=[Phase.STATUS])
    await control.hang(phases=[Phase.RESULT])

    failed_poll = await falemu_http.get(fast["status_url"], headers=AUTH)
    await wait_completed(falemu_http, fast["status_url"], KEY)
    with pytest.raises(httpx.ReadTimeout):
        await falemu_http.get(fast["response_url"], headers=AUTH, timeout=0.2)
    slow_status = await falemu_http.get(slow["status_url"], headers=AUTH)

    assert failed_poll.status_code == 503
    assert slow_status.json()["status"] == "IN_PROGRESS"


async def test_limits_locks_and_formats(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, control: FalEmulatorControl
) -> None:
    await control.set_concurrency_limit(KEY, 3)
    await control.lock_key(KEY, "Admin lock.")
    await control.set_upscale_format("webp")

    locked = await submit(falemu, falemu_http)
    await control.unlock_key(KEY)
    unlocked = await submit(falemu, falemu_http)

    assert falemu.queue.limits == {KEY: 3}
    assert locked.status_code == 403
    assert locked.json() == {"detail": "User is locked. Reason: Admin lock."}
    assert unlocked.status_code == 200
    assert falemu.faults.upscale_format == "webp"
    await control.clear_faults()
    assert falemu.queue.limits == {}
    assert falemu.faults.upscale_format is None


async def test_llm_script_and_calls(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, control: FalEmulatorControl
) -> None:
    await control.script_llm("scripted", infra_error(500), ScriptedReply(output="third"))

    answers = [
        await run_request(falemu_http, falemu.queue_base, LLM, {"model": LLM_MODEL, "prompt": f"p{i}"}, KEY)
        for i in range(3)
    ]

    assert [a.status_code for a in answers] == [200, 500, 200]
    assert answers[0].json()["output"] == "scripted"
    assert answers[2].json()["output"] == "third"
    assert [c.prompt for c in await control.llm_calls()] == ["p0", "p1", "p2"]


async def test_stats_concurrency_and_reset(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, control: FalEmulatorControl
) -> None:
    await run_request(falemu_http, falemu.queue_base, LLM, {"model": LLM_MODEL, "prompt": "x"}, KEY)

    stats = await control.stats()
    await control.reset_concurrency()
    after_reset = await control.concurrency(KEY)
    await control.reset()

    assert stats.by_model == {LLM: 1}
    assert stats.by_key == {KEY: 1}
    assert stats.concurrency[KEY] == KeyConcurrency(in_flight=0, max_in_flight=1, running=0, max_running=1)
    assert after_reset == KeyConcurrency()
    assert await control.submits() == []
    assert await control.webhook_deliveries() == []


async def test_standalone_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "medialab_sandbox.fal",
        "--port",
        "0",
        "--keys",
        "k1:s1, k2:s2",
        "--run-seconds",
        "0",
        "--upscale-webp",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        base_url = line.decode().strip().rsplit(" ", 1)[1]
        async with FalEmulatorControl(base_url) as control, httpx.AsyncClient(timeout=5) as http:
            await control.wait_ready()
            await control.script_llm("from the control client")
            answer = await run_request(
                http, f"{base_url}/queue", LLM, {"model": LLM_MODEL, "prompt": "x"}, "k2:s2"
            )
            stats = await control.stats()
    finally:
        process.terminate()
        code = await asyncio.wait_for(process.wait(), 10)

    assert answer.json()["output"] == "from the control client"
    assert stats.by_key == {"k2:s2": 1}
    assert code == 0
