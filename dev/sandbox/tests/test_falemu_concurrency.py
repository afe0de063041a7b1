"""fal emulator: per-account concurrency limit, queue positions, in-flight accounting and poll counts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from medialab_sandbox.fal import FalEmulator, KeyConcurrency
from medialab_sandbox.fal.testing import key_header, wait_completed

KEY = "key-a:secret"
OTHER = "key-b:secret"
LLM = "openrouter/router"
LLM_MODEL = "google/gemini-2.5-flash"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def falemu_unstarted() -> FalEmulator:
    return FalEmulator(keys=[KEY, OTHER])


async def submit(fal: FalEmulator, http: httpx.AsyncClient, key: str = KEY) -> dict[str, str]:
    response = await http.post(
        f"{fal.queue_base}/{LLM}", json={"model": LLM_MODEL, "prompt": "x"}, headers=key_header(key)
    )
    assert response.status_code == 200
    return response.json()


async def status_of(http: httpx.AsyncClient, urls: dict[str, str], key: str = KEY) -> dict[str, Any]:
    return (await http.get(urls["status_url"], headers=key_header(key))).json()


async def test_fifteen_submits_with_a_limit_of_ten(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_concurrency_limit(KEY, 10)
    # Long enough that none ends while the statuses are read, even on a busy machine.
    falemu.set_latency(run_seconds=2.0)

    submitted = await asyncio.gather(*(submit(falemu, falemu_http) for _ in range(15)))
    statuses = await asyncio.gather(*(status_of(falemu_http, urls) for urls in submitted))
    await asyncio.gather(*(wait_completed(falemu_http, u["status_url"], KEY) for u in submitted))

    running = [s for s in statuses if s["status"] == "IN_PROGRESS"]
    queued = [s for s in statuses if s["status"] == "IN_QUEUE"]
    assert len(running) == 10
    assert sorted(s["queue_position"] for s in queued) == [0, 1, 2, 3, 4]
    assert falemu.concurrency(KEY) == KeyConcurrency(in_flight=0, max_in_flight=15, running=0, max_running=10)


async def test_queued_requests_start_in_fifo_order(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.set_latency(run_seconds=0.05)

    submitted = [await submit(falemu, falemu_http) for _ in range(4)]
    await asyncio.gather(*(wait_completed(falemu_http, u["status_url"], KEY) for u in submitted))

    starts = [falemu.queue.jobs[u["request_id"]].started_at or 0.0 for u in submitted]
    assert 0.0 not in starts
    assert starts == sorted(starts)
    assert falemu.concurrency(KEY).max_running == 1


async def test_limits_are_per_key(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.set_latency(run_seconds=2.0)  # none ends before its status is read, however busy the machine

    mine = [await submit(falemu, falemu_http, KEY) for _ in range(2)]
    theirs = [await submit(falemu, falemu_http, OTHER) for _ in range(2)]
    await asyncio.sleep(0.05)

    assert [(await status_of(falemu_http, u))["status"] for u in mine] == ["IN_PROGRESS", "IN_QUEUE"]
    assert [(await status_of(falemu_http, u, OTHER))["status"] for u in theirs] == [
        "IN_PROGRESS",
        "IN_PROGRESS",
    ]
    assert falemu.submit_counts_by_key() == {KEY: 2, OTHER: 2}


async def test_raising_the_limit_starts_waiting_requests(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.slow_jobs(5.0, count=None)
    submitted = [await submit(falemu, falemu_http) for _ in range(3)]
    await asyncio.sleep(0.02)
    before = falemu.concurrency(KEY).running

    falemu.set_concurrency_limit(KEY, None)

    assert before == 1
    assert falemu.concurrency(KEY).running == 3
    assert {(await status_of(falemu_http, u))["status"] for u in submitted} == {"IN_PROGRESS"}


async def test_cancel_frees_the_slot(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.slow_jobs(5.0)
    busy = await submit(falemu, falemu_http)
    waiting = await submit(falemu, falemu_http)
    await asyncio.sleep(0.02)

    await falemu_http.put(busy["cancel_url"], headers=key_header(KEY))
    status = await wait_completed(falemu_http, waiting["status_url"], KEY)

    assert status.json()["status"] == "COMPLETED"
    assert "error" not in status.json()
    assert falemu.concurrency(KEY) == KeyConcurrency(in_flight=0, max_in_flight=2, running=0, max_running=1)


async def test_reset_concurrency_restarts_the_maxima(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    # Long enough that every request is still running when the last arrives, even on a busy machine.
    falemu.set_latency(run_seconds=2.0)
    first = await asyncio.gather(*(submit(falemu, falemu_http) for _ in range(5)))
    await asyncio.gather(*(wait_completed(falemu_http, u["status_url"], KEY) for u in first))
    assert falemu.concurrency(KEY).max_in_flight == 5

    falemu.reset_concurrency()
    second = await asyncio.gather(*(submit(falemu, falemu_http) for _ in range(2)))
    await asyncio.gather(*(wait_completed(falemu_http, u["status_url"], KEY) for u in second))

    assert falemu.concurrency(KEY).max_in_flight == 2
    assert falemu.concurrency(KEY).max_running == 2


async def test_keys_of_one_account_share_its_limit(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_account("main", [KEY, OTHER], limit=2)
    # Long enough that none has ended when the statuses are read, even on a slow, busy machine.
    falemu.set_latency(run_seconds=2.0)

    submitted = [await submit(falemu, falemu_http, key) for key in (KEY, OTHER, KEY, OTHER)]
    await asyncio.sleep(0.05)
    statuses = [await status_of(falemu_http, urls) for urls in submitted]
    await asyncio.gather(*(wait_completed(falemu_http, u["status_url"], KEY) for u in submitted))

    assert [s["status"] for s in statuses] == ["IN_PROGRESS"] * 2 + ["IN_QUEUE"] * 2
    assert [s.get("queue_position") for s in statuses[2:]] == [0, 1]
    assert falemu.concurrency("main").max_running == 2


async def test_status_polls_are_counted_per_request(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_latency(run_seconds=0.2)
    urls = await submit(falemu, falemu_http)
    for _ in range(3):
        await status_of(falemu_http, urls)
    await falemu.wait_completed(urls["request_id"])
    assert falemu.status_polls()[urls["request_id"]] == 3
