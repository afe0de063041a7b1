"""fal emulator: fault knobs (submit/poll errors, failed jobs, moderation, hangs, latency)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from medialab_sandbox.fal import (
    FalEmulator,
    Phase,
    content_policy_violation,
    infra_error,
    model_error,
    rate_limited,
    temporarily_disabled,
)
from medialab_sandbox.fal.testing import key_header, run_request, wait_completed

KEY = "key-id:key-secret"
AUTH = key_header(KEY)
NANO = "fal-ai/nano-banana"
LLM = "fal-ai/any-llm"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fal_server() -> AsyncIterator[FalEmulator]:
    async with FalEmulator(keys=[KEY]) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module")
async def fal(fal_server: FalEmulator) -> FalEmulator:
    fal_server.reset()
    return fal_server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def submit(http: httpx.AsyncClient, fal: FalEmulator, model_id: str = LLM) -> httpx.Response:
    return await http.post(f"{fal.queue_base}/{model_id}", json={"prompt": "x"}, headers=AUTH)


async def test_next_submits_get_429_then_pass(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.fail_submits(rate_limited(), count=2)

    answers = [await submit(http, fal) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json() == {"detail": "Too many requests", "error_type": "rate_limited"}
    assert answers[0].headers["X-Fal-Error-Type"] == "rate_limited"
    assert [r.rejected_status for r in fal.submits()] == [429, 429, None]
    assert fal.submit_counts_by_model() == {LLM: 1}


@pytest.mark.parametrize(
    ("status_code", "error_type"),
    [
        (500, "internal_error"),
        (502, "runner_incomplete_response"),
        (503, "runner_scheduling_failure"),
        (504, "request_timeout"),
    ],
)
async def test_infra_errors_on_submit(
    fal: FalEmulator, http: httpx.AsyncClient, status_code: int, error_type: str
) -> None:
    fal.fail_submits(infra_error(status_code))

    response = await submit(http, fal)

    assert response.status_code == status_code
    assert response.json()["error_type"] == error_type
    assert isinstance(response.json()["detail"], str)
    assert response.headers["X-Fal-Error-Type"] == error_type


async def test_faults_can_target_one_model(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.fail_submits(temporarily_disabled(NANO), count=None, model=NANO)

    other = await submit(http, fal, LLM)
    first = await submit(http, fal, NANO)
    second = await submit(http, fal, NANO)
    fal.clear_faults()
    cleared = await submit(http, fal, NANO)

    assert other.status_code == 200
    assert first.status_code == second.status_code == 503
    assert first.json()["detail"].startswith("Temporarily disabled")
    assert cleared.status_code == 200


async def test_status_polls_fail_then_recover(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    urls = (await submit(http, fal)).json()
    fal.fail_polls(infra_error(502), count=2, phases=[Phase.STATUS])

    failures = [await http.get(urls["status_url"], headers=AUTH) for _ in range(2)]
    status = await wait_completed(http, urls["status_url"], KEY)
    result = await http.get(urls["response_url"], headers=AUTH)

    assert [f.status_code for f in failures] == [502, 502]
    assert failures[0].headers["X-Fal-Error-Type"] == "runner_incomplete_response"
    assert status.json()["status"] == "COMPLETED"
    assert result.status_code == 200


async def test_result_polls_can_fail_alone(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    urls = (await submit(http, fal)).json()
    await wait_completed(http, urls["status_url"], KEY)
    fal.fail_polls(infra_error(500), phases=[Phase.RESULT])

    failed = await http.get(urls["response_url"], headers=AUTH)
    status = await http.get(urls["status_url"], headers=AUTH)
    retried = await http.get(urls["response_url"], headers=AUTH)

    assert failed.status_code == 500
    assert status.status_code == 200
    assert retried.status_code == 200


async def test_failed_job_completes_with_error(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.fail_jobs(model_error(500, "CUDA out of memory"))

    urls = (await submit(http, fal)).json()
    status = await wait_completed(http, urls["status_url"], KEY)
    result = await http.get(urls["response_url"], headers=AUTH)
    healthy = await run_request(http, fal.queue_base, LLM, {"prompt": "y"}, KEY)

    assert status.json()["error"] == "CUDA out of memory"
    assert status.json()["error_type"] is None
    assert result.status_code == 500
    assert result.json() == {"detail": "CUDA out of memory"}
    assert healthy.status_code == 200


async def test_moderation_error(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.fail_jobs(content_policy_violation("x", ["violence"]), model=NANO)

    urls = (await submit(http, fal, NANO)).json()
    status = await wait_completed(http, urls["status_url"], KEY)
    result = await http.get(urls["response_url"], headers=AUTH)

    assert status.json()["error_type"] == "content_policy_violation"
    assert result.status_code == 422
    assert result.headers["X-Fal-Retryable"] == "false"
    [item] = result.json()["detail"]
    assert item["loc"] == ["body", "prompt"]
    assert item["type"] == "content_policy_violation"
    assert item["url"] == "https://docs.fal.ai/errors#content_policy_violation"
    assert item["categories"] == ["violence"]
    assert fal.storage.files == {}


async def test_temporarily_disabled_as_job_result(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.fail_jobs(temporarily_disabled())

    response = await run_request(http, fal.queue_base, LLM, {"prompt": "x"}, KEY)

    assert response.status_code == 503
    assert response.json()["detail"].startswith("Temporarily disabled")


async def test_hanging_submit_times_the_client_out(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.hang()

    with pytest.raises(httpx.ReadTimeout):
        await http.post(f"{fal.queue_base}/{LLM}", json={"prompt": "x"}, headers=AUTH, timeout=0.2)
    after = await submit(http, fal)

    assert after.status_code == 200


async def test_hanging_status_poll(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    urls = (await submit(http, fal)).json()
    fal.hang(phases=[Phase.STATUS], model=LLM)

    with pytest.raises(httpx.ReadTimeout):
        await http.get(urls["status_url"], headers=AUTH, timeout=0.2)
    status = await wait_completed(http, urls["status_url"], KEY)

    assert status.status_code == 200


async def test_slow_jobs_and_latency(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.set_latency(queue_seconds=0.1, run_seconds=0.05)
    fal.slow_jobs(0.6)
    slow = (await submit(http, fal)).json()
    fast = (await submit(http, fal)).json()

    queued = await http.get(fast["status_url"], headers=AUTH)
    await wait_completed(http, fast["status_url"], KEY)
    still_running = await http.get(slow["status_url"], headers=AUTH)
    await wait_completed(http, slow["status_url"], KEY)
    slow_job, fast_job = fal.queue.jobs[slow["request_id"]], fal.queue.jobs[fast["request_id"]]

    assert queued.json()["status"] == "IN_QUEUE"
    assert still_running.json()["status"] == "IN_PROGRESS"
    assert (fast_job.started_at or 0) - fast_job.submitted_at >= 0.1
    assert (fast_job.inference_time or 0) >= 0.05
    assert (slow_job.inference_time or 0) >= 0.6


async def test_latency_per_model(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.set_latency(run_seconds=5.0, model=NANO)
    slow = (await submit(http, fal, NANO)).json()

    await run_request(http, fal.queue_base, LLM, {"prompt": "x"}, KEY)
    status = await http.get(slow["status_url"], headers=AUTH)

    assert status.json()["status"] == "IN_PROGRESS"


async def test_reset_cancels_unfinished_requests(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.slow_jobs(5.0)
    urls = (await submit(http, fal)).json()
    await asyncio.sleep(0.02)

    fal.reset()
    status = await http.get(urls["status_url"], headers=AUTH)

    assert status.status_code == 404
    assert fal.concurrency(KEY).in_flight == 0
    assert fal.submits() == []
