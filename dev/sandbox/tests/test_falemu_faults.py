"""fal emulator: fault knobs (submit/poll errors, failed jobs, moderation, hangs, latency)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
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
LLM = "openrouter/router"
LLM_MODEL = "google/gemini-2.5-flash"

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def submit(http: httpx.AsyncClient, fal: FalEmulator, model_id: str = LLM) -> httpx.Response:
    return await http.post(
        f"{fal.queue_base}/{model_id}", json={"model": LLM_MODEL, "prompt": "x"}, headers=AUTH
    )


async def test_next_submits_get_429_then_pass(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.fail_submits(rate_limited(), count=2)

    answers = [await submit(falemu_http, falemu) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json() == {"detail": "Too many requests", "error_type": "rate_limited"}
    assert answers[0].headers["X-Fal-Error-Type"] == "rate_limited"
    assert [r.rejected_status for r in falemu.submits()] == [429, 429, None]
    assert falemu.submit_counts_by_model() == {LLM: 1}


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
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, status_code: int, error_type: str
) -> None:
    falemu.fail_submits(infra_error(status_code))

    response = await submit(falemu_http, falemu)

    assert response.status_code == status_code
    assert response.json()["error_type"] == error_type
    assert isinstance(response.json()["detail"], str)
    assert response.headers["X-Fal-Error-Type"] == error_type


async def test_faults_can_target_one_model(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.fail_submits(temporarily_disabled(NANO), count=None, model=NANO)

    other = await submit(falemu_http, falemu, LLM)
    first = await submit(falemu_http, falemu, NANO)
    second = await submit(falemu_http, falemu, NANO)
    falemu.clear_faults()
    cleared = await submit(falemu_http, falemu, NANO)

    assert other.status_code == 200
    assert first.status_code == second.status_code == 503
    assert first.json()["detail"].startswith("Temporarily disabled")
    assert cleared.status_code == 200


async def test_status_polls_fail_then_recover(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    urls = (await submit(falemu_http, falemu)).json()
    falemu.fail_polls(infra_error(502), count=2, phases=[Phase.STATUS])

    failures = [await falemu_http.get(urls["status_url"], headers=AUTH) for _ in range(2)]
    status = await wait_completed(falemu_http, urls["status_url"], KEY)
    result = await falemu_http.get(urls["response_url"], headers=AUTH)

    assert [f.status_code for f in failures] == [502, 502]
    assert failures[0].headers["X-Fal-Error-Type"] == "runner_incomplete_response"
    assert status.json()["status"] == "COMPLETED"
    assert result.status_code == 200


async def test_result_polls_can_fail_alone(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    urls = (await submit(falemu_http, falemu)).json()
    await wait_completed(falemu_http, urls["status_url"], KEY)
    falemu.fail_polls(infra_error(500), phases=[Phase.RESULT])

    failed = await falemu_http.get(urls["response_url"], headers=AUTH)
    status = await falemu_http.get(urls["status_url"], headers=AUTH)
    retried = await falemu_http.get(urls["response_url"], headers=AUTH)

    assert failed.status_code == 500
    assert status.status_code == 200
    assert retried.status_code == 200


async def test_failed_job_completes_with_error(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.fail_jobs(model_error(500, "CUDA out of memory"))

    urls = (await submit(falemu_http, falemu)).json()
    status = await wait_completed(falemu_http, urls["status_url"], KEY)
    result = await falemu_http.get(urls["response_url"], headers=AUTH)
    healthy = await run_request(falemu_http, falemu.queue_base, LLM, {"model": LLM_MODEL, "prompt": "y"}, KEY)

    assert status.json()["error"] == "CUDA out of memory"
    assert status.json()["error_type"] is None
    assert result.status_code == 500
    assert result.json() == {"detail": "CUDA out of memory"}
    assert healthy.status_code == 200


async def test_moderation_error(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.fail_jobs(content_policy_violation("x", ["violence"]), model=NANO)

    urls = (await submit(falemu_http, falemu, NANO)).json()
    status = await wait_completed(falemu_http, urls["status_url"], KEY)
    result = await falemu_http.get(urls["response_url"], headers=AUTH)

    assert status.json()["error_type"] == "content_policy_violation"
    assert result.status_code == 422
    assert result.headers["X-Fal-Retryable"] == "false"
    [item] = result.json()["detail"]
    assert item["loc"] == ["body", "prompt"]
    assert item["type"] == "content_policy_violation"
    assert item["url"] == "https://docs.fal.ai/errors#content_policy_violation"
    assert item["categories"] == ["violence"]
    assert falemu.storage.files == {}


async def test_temporarily_disabled_as_job_result(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.fail_jobs(temporarily_disabled())

    response = await run_request(
        falemu_http, falemu.queue_base, LLM, {"model": LLM_MODEL, "prompt": "x"}, KEY
    )

    assert response.status_code == 503
    assert response.json()["detail"].startswith("Temporarily disabled")


async def test_hanging_submit_times_the_client_out(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.hang()

    with pytest.raises(httpx.ReadTimeout):
        await falemu_http.post(
            f"{falemu.queue_base}/{LLM}", json={"model": LLM_MODEL, "prompt": "x"}, headers=AUTH, timeout=0.2
        )
    after = await submit(falemu_http, falemu)

    assert after.status_code == 200


async def test_hanging_status_poll(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    urls = (await submit(falemu_http, falemu)).json()
    falemu.hang(phases=[Phase.STATUS], model=LLM)

    with pytest.raises(httpx.ReadTimeout):
        await falemu_http.get(urls["status_url"], headers=AUTH, timeout=0.2)
    status = await wait_completed(falemu_http, urls["status_url"], KEY)

    assert status.status_code == 200


async def test_slow_jobs_and_latency(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_latency(queue_seconds=0.1, run_seconds=0.05)
    falemu.slow_jobs(0.6)
    slow = (await submit(falemu_http, falemu)).json()
    fast = (await submit(falemu_http, falemu)).json()

    queued = await falemu_http.get(fast["status_url"], headers=AUTH)
    await wait_completed(falemu_http, fast["status_url"], KEY)
    still_running = await falemu_http.get(slow["status_url"], headers=AUTH)
    await wait_completed(falemu_http, slow["status_url"], KEY)
    slow_job, fast_job = falemu.queue.jobs[slow["request_id"]], falemu.queue.jobs[fast["request_id"]]

    assert queued.json()["status"] == "IN_QUEUE"
    assert still_running.json()["status"] == "IN_PROGRESS"
    assert (fast_job.started_at or 0) - fast_job.submitted_at >= 0.1
    assert (fast_job.inference_time or 0) >= 0.05
    assert (slow_job.inference_time or 0) >= 0.6


async def test_latency_per_model(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_latency(run_seconds=5.0, model=NANO)
    slow = (await submit(falemu_http, falemu, NANO)).json()

    await run_request(falemu_http, falemu.queue_base, LLM, {"model": LLM_MODEL, "prompt": "x"}, KEY)
    status = await falemu_http.get(slow["status_url"], headers=AUTH)

    assert status.json()["status"] == "IN_PROGRESS"


async def test_reset_cancels_unfinished_requests(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.slow_jobs(5.0)
    urls = (await submit(falemu_http, falemu)).json()
    await asyncio.sleep(0.02)

    falemu.reset()
    status = await falemu_http.get(urls["status_url"], headers=AUTH)

    assert status.status_code == 404
    assert falemu.concurrency(KEY).in_flight == 0
    assert falemu.submits() == []


async def test_short_results_return_fewer_images_than_asked(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.short_results(1, model=NANO)
    body = {"prompt": "a fox", "num_images": 4}
    short = await run_request(falemu_http, falemu.queue_base, NANO, body, KEY)
    full = await run_request(falemu_http, falemu.queue_base, NANO, body, KEY)
    falemu.short_results(3, model=NANO)
    one = await run_request(falemu_http, falemu.queue_base, NANO, {**body, "num_images": 1}, KEY)
    at_least_one = await run_request(falemu_http, falemu.queue_base, NANO, {**body, "num_images": 2}, KEY)

    assert len(short.json()["images"]) == 3
    assert len(full.json()["images"]) == 4
    assert len(one.json()["images"]) == 1  # a single image is not cut (nor is the fault used up)
    assert len(at_least_one.json()["images"]) == 1
