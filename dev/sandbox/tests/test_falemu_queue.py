"""fal emulator: queue API wire format (submit, status, result, cancel, auth, webhooks)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.fal.testing import key_header, wait_completed

KEY = "key-id:key-secret"
AUTH = key_header(KEY)
NANO = "fal-ai/nano-banana"
SEEDREAM = "fal-ai/bytedance/seedream/v4/text-to-image"
LLM = "openrouter/router"
LLM_MODEL = "google/gemini-2.5-flash"


# One emulator per module (starting and stopping uvicorn costs ~0.2 s), reset before each test.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def falemu_unstarted() -> FalEmulator:
    return FalEmulator(keys=[KEY], webhook_attempts=2, webhook_backoff=0.01)


class WebhookSink:
    """A bare HTTP/1.1 receiver: answers ``fail_first`` requests with 500, then 200."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._fail_first = fail_first
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook?x=1"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.bodies.append(json.loads(await reader.readexactly(length)))
        code = b"500 Internal Server Error" if len(self.bodies) <= self._fail_first else b"200 OK"
        writer.write(b"HTTP/1.1 " + code + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def test_submit_returns_owner_app_urls(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    response = await falemu_http.post(f"{falemu.queue_base}/{SEEDREAM}", json={"prompt": "x"}, headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    request_id = body["request_id"]
    base = f"{falemu.queue_base}/fal-ai/bytedance/requests/{request_id}"
    assert body["status"] == "IN_QUEUE"
    assert body["response_url"] == base
    assert body["status_url"] == f"{base}/status"
    assert body["cancel_url"] == f"{base}/cancel"
    assert body["queue_position"] == 0
    assert response.headers["x-fal-request-id"] == request_id


async def test_status_with_the_full_model_id_is_not_found(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    submitted = (
        await falemu_http.post(f"{falemu.queue_base}/{SEEDREAM}", json={"prompt": "x"}, headers=AUTH)
    ).json()
    wrong = f"{falemu.queue_base}/{SEEDREAM}/requests/{submitted['request_id']}/status"

    response = await falemu_http.get(wrong, headers=AUTH)

    assert response.status_code == 404


async def test_status_codes_logs_and_metrics_through_the_lifecycle(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_latency(run_seconds=0.3)
    falemu.set_concurrency_limit(KEY, 1)
    first = (await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "a"}, headers=AUTH)).json()
    second = (
        await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "b"}, headers=AUTH)
    ).json()
    job = falemu.job(first["request_id"])
    assert job is not None
    await job.started.wait()

    running = await falemu_http.get(first["status_url"], params={"logs": "1"}, headers=AUTH)
    running_quiet = await falemu_http.get(first["status_url"], params={"logs": "false"}, headers=AUTH)
    queued = await falemu_http.get(second["status_url"], headers=AUTH)
    done = await wait_completed(falemu_http, first["status_url"], KEY)
    done_logs = await falemu_http.get(first["status_url"], params={"logs": "true"}, headers=AUTH)
    done_quiet = await falemu_http.get(first["status_url"], params={"logs": "0"}, headers=AUTH)

    assert running.status_code == 202
    assert running.json()["status"] == "IN_PROGRESS"
    assert running.json()["logs"][0]["source"] == "USER"
    assert running_quiet.json()["logs"] is None
    assert queued.status_code == 202
    assert queued.json()["status"] == "IN_QUEUE"
    assert queued.json()["queue_position"] == 0
    assert done.status_code == 200
    assert done.json()["status"] == "COMPLETED"
    assert done.json()["metrics"]["inference_time"] >= 0.3
    assert "error" not in done.json()
    assert {line["level"] for line in done_logs.json()["logs"]} == {"INFO"}
    assert done_quiet.json()["logs"] is None


async def test_result_before_completion_and_after(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.set_latency(run_seconds=0.2)
    submitted = (
        await falemu_http.post(
            f"{falemu.queue_base}/{LLM}", json={"model": LLM_MODEL, "prompt": "hi"}, headers=AUTH
        )
    ).json()

    early = await falemu_http.get(submitted["response_url"], headers=AUTH)
    await wait_completed(falemu_http, submitted["status_url"], KEY)
    late = await falemu_http.get(submitted["response_url"], headers=AUTH)

    assert early.status_code == 400
    assert late.status_code == 200
    assert late.headers["x-fal-request-id"] == submitted["request_id"]
    assert late.json()["output"]


async def test_failed_request_replays_error_verbatim(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    submitted = (await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={}, headers=AUTH)).json()

    status = await wait_completed(falemu_http, submitted["status_url"], KEY)
    result = await falemu_http.get(submitted["response_url"], headers=AUTH)

    assert status.json()["error_type"] == "missing"
    assert status.json()["error"] == "Field required"
    assert result.status_code == 422
    assert result.json() == {
        "detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
    }
    assert result.headers["x-fal-billable-units"] == "0"
    assert result.headers["x-fal-request-id"] == submitted["request_id"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Key wrong:key"}, {"Authorization": f"Bearer {KEY}"}],
    ids=["missing", "unknown", "bearer"],
)
async def test_unknown_keys_get_401(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"detail": "No user found for Key ID and Secret"}
    assert falemu.submits() == []


async def test_polls_need_a_valid_key_too(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    submitted = (
        await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=AUTH)
    ).json()

    for url in (submitted["status_url"], submitted["response_url"]):
        response = await falemu_http.get(url, headers={"Authorization": "Key nobody:secret"})
        assert response.status_code == 401


async def test_locked_key_gets_403(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.lock_key(KEY)

    locked = await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=AUTH)
    falemu.unlock_key(KEY)
    unlocked = await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=AUTH)

    assert locked.status_code == 403
    assert locked.json()["detail"].startswith("User is locked. Reason: Exhausted balance.")
    assert unlocked.status_code == 200


@pytest.mark.parametrize(
    ("model_id", "detail"),
    [
        ("fal-ai/no-such-app", "Application 'fal-ai/no-such-app' not found"),
        ("fal-ai/nano-banana/nope", "Path /nope not found"),
    ],
)
async def test_unknown_model_is_404(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, model_id: str, detail: str
) -> None:
    response = await falemu_http.post(f"{falemu.queue_base}/{model_id}", json={"prompt": "x"}, headers=AUTH)

    assert response.status_code == 404
    assert response.json() == {"detail": detail}


async def test_unknown_request_id_is_404(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    base = f"{falemu.queue_base}/fal-ai/nano-banana/requests/00000000-0000-0000-0000-000000000000"

    status = await falemu_http.get(f"{base}/status", headers=AUTH)
    result = await falemu_http.get(base, headers=AUTH)
    cancel = await falemu_http.put(f"{base}/cancel", headers=AUTH)

    assert status.status_code == result.status_code == 404
    assert cancel.status_code == 404
    assert cancel.json() == {"status": "NOT_FOUND"}


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]"])
async def test_submit_body_must_be_a_json_object(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, raw: bytes
) -> None:
    response = await falemu_http.post(
        f"{falemu.queue_base}/{NANO}",
        content=raw,
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert response.headers["x-fal-billable-units"] == "0"


async def test_cancel_queued_request(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.slow_jobs(5.0)
    await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "busy"}, headers=AUTH)
    queued = (
        await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=AUTH)
    ).json()

    cancel = await falemu_http.put(queued["cancel_url"], headers=AUTH)
    status = await falemu_http.get(queued["status_url"], headers=AUTH)
    result = await falemu_http.get(queued["response_url"], headers=AUTH)
    again = await falemu_http.put(queued["cancel_url"], headers=AUTH)

    assert cancel.status_code == 202
    assert cancel.json() == {"status": "CANCELLATION_REQUESTED"}
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert status.json()["error_type"] == "client_cancelled"
    assert result.status_code == 499
    assert again.status_code == 400
    assert again.json() == {"status": "ALREADY_COMPLETED"}
    assert [(c.request_id, c.status) for c in falemu.recorder.cancels] == [
        (queued["request_id"], "CANCELLATION_REQUESTED"),
        (queued["request_id"], "ALREADY_COMPLETED"),
    ]
    assert falemu.concurrency(KEY).in_flight == 1


async def test_cancel_running_request_produces_no_output(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.slow_jobs(5.0)
    submitted = (
        await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=AUTH)
    ).json()
    job = falemu.job(submitted["request_id"])
    assert job is not None
    await job.started.wait()

    cancel = await falemu_http.put(submitted["cancel_url"], headers=AUTH)

    assert cancel.status_code == 202
    assert falemu.storage.files == {}
    assert falemu.concurrency(KEY).running == 0
    assert falemu.concurrency(KEY).in_flight == 0


async def test_cancel_completed_request_is_400(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    submitted = (
        await falemu_http.post(
            f"{falemu.queue_base}/{LLM}", json={"model": LLM_MODEL, "prompt": "x"}, headers=AUTH
        )
    ).json()
    await wait_completed(falemu_http, submitted["status_url"], KEY)

    cancel = await falemu_http.put(submitted["cancel_url"], headers=AUTH)

    assert cancel.status_code == 400
    assert cancel.json() == {"status": "ALREADY_COMPLETED"}


async def test_webhook_ok_and_error_deliveries(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    sink = WebhookSink()
    hook = await sink.start()
    try:
        ok = await falemu_http.post(
            f"{falemu.queue_base}/{LLM}",
            params={"fal_webhook": hook},
            json={"model": LLM_MODEL, "prompt": "hello"},
            headers=AUTH,
        )
        bad = await falemu_http.post(
            f"{falemu.queue_base}/{LLM}",
            params={"fal_webhook": hook},
            json={"model": LLM_MODEL},
            headers=AUTH,
        )
        deliveries = await falemu.wait_webhooks(2)
    finally:
        await sink.stop()

    by_id = {body["request_id"]: body for body in sink.bodies}
    good = by_id[ok.json()["request_id"]]
    failed = by_id[bad.json()["request_id"]]
    assert good["status"] == "OK"
    assert good["gateway_request_id"] == good["request_id"]
    assert good["error"] is None
    assert good["payload"]["output"]
    assert failed["status"] == "ERROR"
    assert failed["error"] == "Invalid status code: 422"
    assert failed["payload"]["detail"][0]["loc"] == ["body", "prompt"]
    assert all(d.delivered and d.attempts == 1 for d in deliveries)
    assert falemu.submits()[0].webhook_url == hook


async def test_webhook_is_retried_until_accepted(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    sink = WebhookSink(fail_first=1)
    hook = await sink.start()
    try:
        await falemu_http.post(
            f"{falemu.queue_base}/{LLM}",
            params={"fal_webhook": hook},
            json={"model": LLM_MODEL, "prompt": "x"},
            headers=AUTH,
        )
        [delivery] = await falemu.wait_webhooks(1)
    finally:
        await sink.stop()

    assert delivery.delivered
    assert delivery.attempts == 2
    assert len(sink.bodies) == 2


async def test_max_queue_length_rejects_with_429(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.set_latency(run_seconds=2.0)
    params = {"fal_max_queue_length": "1"}
    url = f"{falemu.queue_base}/{NANO}"
    running = await falemu_http.post(url, params=params, json={"prompt": "a"}, headers=AUTH)
    await asyncio.sleep(0.02)  # let it start so it no longer counts as queued
    queued = await falemu_http.post(url, params=params, json={"prompt": "b"}, headers=AUTH)

    rejected = await falemu_http.post(url, params=params, json={"prompt": "c"}, headers=AUTH)

    assert running.status_code == queued.status_code == 200
    assert rejected.status_code == 429
    assert rejected.headers["X-Fal-Error-Type"] == rejected.json()["error_type"]
    assert [r.rejected_status for r in falemu.submits()] == [None, None, 429]


async def test_start_timeout_expires_with_504(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.set_concurrency_limit(KEY, 1)
    falemu.slow_jobs(5.0)
    await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "busy"}, headers=AUTH)
    waiting = (
        await falemu_http.post(
            f"{falemu.queue_base}/{NANO}",
            json={"prompt": "x"},
            headers={**AUTH, "X-Fal-Request-Timeout": "0.1"},
        )
    ).json()

    status = await wait_completed(falemu_http, waiting["status_url"], KEY)
    result = await falemu_http.get(waiting["response_url"], headers=AUTH)

    assert status.json()["error_type"] == "request_timeout"
    assert result.status_code == 504
    assert result.headers["X-Fal-Request-Timeout-Type"] == "user"
    assert result.headers["X-Fal-Error-Type"] == "request_timeout"


async def test_submit_headers_are_recorded_and_a_bad_lifecycle_is_refused(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    lifecycle = '{"expiration_duration_seconds": 86400}'
    headers = {**AUTH, "X-Fal-Request-Timeout": "42.5", "X-Fal-Object-Lifecycle-Preference": lifecycle}
    accepted = await falemu_http.post(f"{falemu.queue_base}/{NANO}", json={"prompt": "x"}, headers=headers)
    assert accepted.status_code == 200
    [record] = falemu.submits()
    assert record.request_timeout_s == 42.5
    assert record.lifecycle == {"expiration_duration_seconds": 86400}
    for bad in ('{"expiration_duration_seconds": 0}', "86400", '{"other": 1}', "{"):
        refused = await falemu_http.post(
            f"{falemu.queue_base}/{NANO}",
            json={"prompt": "x"},
            headers={**AUTH, "X-Fal-Object-Lifecycle-Preference": bad},
        )
        assert refused.status_code == 400, bad
