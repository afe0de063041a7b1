"""The provider runners' shared HTTP discipline: retries bounded by attempts and deadline, bounded bodies."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from medialab_contracts.events import FailureReason
from medialab_runtime import http_retry
from medialab_runtime.http_retry import RetryPolicy, Transient


class GaveUp(Exception):
    """Raised as ``GaveUp(cause, attempts)``."""


class Expired(Exception):
    pass


class TooLarge(Exception):
    pass


FAST = RetryPolicy(base_s=0.001, max_s=0.002, max_attempts=5)


def failing(causes: list[str | Transient], result: str = "ok"):
    """An ``attempt_once`` that fails with ``causes`` in turn, then returns ``result``."""
    seen: list[int] = []

    async def attempt_once(attempt: int) -> str:
        seen.append(attempt)
        if causes:
            cause = causes.pop(0)
            raise cause if isinstance(cause, Transient) else Transient(cause)
        return result

    return attempt_once, seen


async def test_transient_failures_are_retried_until_an_answer() -> None:
    attempt_once, seen = failing(["503", "network"])
    counted: list[str] = []
    answer = await http_retry.retry_transient(
        attempt_once, FAST, time.monotonic() + 5, give_up=GaveUp, on_failure=counted.append, what="probe"
    )
    assert answer == "ok"
    assert seen == [1, 2, 3]
    assert counted == ["503", "network"]


async def test_attempts_run_out_with_the_last_cause_and_their_count() -> None:
    attempt_once, seen = failing(["503"] * 4 + ["429"] * 10)
    with pytest.raises(GaveUp) as raised:
        await http_retry.retry_transient(
            attempt_once, FAST, time.monotonic() + 5, give_up=GaveUp, on_failure=lambda _: None, what="probe"
        )
    assert raised.value.args == ("429", 5)
    assert seen == [1, 2, 3, 4, 5]


async def test_no_retry_whose_pause_would_end_past_the_deadline() -> None:
    # The server asks for 30 s; 1 s is left: give up now rather than sleep past the deadline.
    attempt_once, seen = failing([Transient("429", retry_after=30.0)])
    started = time.monotonic()
    with pytest.raises(GaveUp) as raised:
        await http_retry.retry_transient(
            attempt_once, FAST, started + 1.0, give_up=GaveUp, on_failure=lambda _: None, what="probe"
        )
    assert raised.value.args == ("429", 1)
    assert seen == [1] and time.monotonic() - started < 10  # not the 30 s the server asked for


async def test_retry_after_longer_than_the_backoff_is_waited_out() -> None:
    attempt_once, _ = failing([Transient("429", retry_after=0.2)])
    started = time.monotonic()
    await http_retry.retry_transient(
        attempt_once, FAST, started + 5, give_up=GaveUp, on_failure=lambda _: None, what="probe"
    )
    assert time.monotonic() - started >= 0.2


async def test_a_final_error_is_not_retried() -> None:
    calls: list[int] = []

    async def refused(attempt: int) -> str:
        calls.append(attempt)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await http_retry.retry_transient(
            refused, FAST, time.monotonic() + 5, give_up=GaveUp, on_failure=lambda _: None, what="probe"
        )
    assert calls == [1]


@pytest.mark.parametrize(
    ("last", "reason"),
    [
        ("deadline", FailureReason.timeout),
        ("429", FailureReason.provider_busy),
        ("503", FailureReason.provider_error),
        ("network", FailureReason.provider_error),
    ],
)
def test_running_out_of_retries_fails_the_job_for_the_last_cause(last: str, reason: FailureReason) -> None:
    assert http_retry.unreachable_reason(last) is reason


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    policy = RetryPolicy(base_s=1.0, max_s=5.0)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2  # jitter over the whole range, not a fixed pause


@pytest.mark.parametrize(
    ("header", "seconds"), [(None, 0.0), ("2.5", 2.5), ("-3", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)]
)
def test_retry_after_reads_seconds_only(header: str | None, seconds: float) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    assert http_retry.retry_after(httpx.Response(429, headers=headers)) == seconds


def test_a_body_that_is_not_json_reads_as_none() -> None:
    assert http_retry.json_or_none(httpx.Response(502, text="<html>bad gateway</html>")) is None
    assert http_retry.json_or_none(httpx.Response(200, json={"a": 1})) == {"a": 1}


LIMIT = http_retry.BodyLimit(1024, TooLarge)


async def send(
    handler, method: str = "GET", left_s: float = 5.0, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    """``send_once`` through a mock transport, ``left_s`` seconds before the deadline."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=5.0) as http:
        return await http_retry.send_once(
            http,
            method,
            "http://provider.test/x",
            time.monotonic() + left_s,
            what=f"probe {method}",
            headers=headers or {},
            expired=Expired,
            **kwargs,
        )


async def test_no_request_once_the_deadline_has_passed() -> None:
    requests: list[httpx.Request] = []
    with pytest.raises(Expired):
        await send(lambda request: requests.append(request) or httpx.Response(200), left_s=-0.1)
    assert requests == []


@pytest.mark.parametrize(
    ("error", "unsent"),
    [(httpx.ConnectError, True), (httpx.ConnectTimeout, True), (httpx.ReadTimeout, False)],
)
async def test_a_network_error_is_transient_and_says_whether_the_request_went_out(
    error: type[httpx.TransportError], unsent: bool
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("failed", request=request)

    with pytest.raises(Transient) as raised:
        await send(fail, "POST", json={"a": 1})
    assert (raised.value.cause, raised.value.retry_after) == ("network", 0.0)
    assert raised.value.unsent is unsent


async def test_a_request_carries_its_headers_and_body() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    response = await send(record, "POST", headers={"Authorization": "Key k"}, json={"a": 1})
    assert response.status_code == 201
    (request,) = seen
    assert request.headers["authorization"] == "Key k" and request.content == b'{"a":1}'


@pytest.mark.parametrize(("size", "status"), [(1000, 200), (5000, 404)])
async def test_a_bounded_get_returns_bodies_within_the_limit_and_error_answers(
    size: int, status: int
) -> None:
    response = await send(lambda _: httpx.Response(status, content=b"x" * size), limit=LIMIT)
    assert response.status_code == status and len(response.content) == size


async def test_a_bounded_get_refuses_a_body_over_the_limit() -> None:
    with pytest.raises(TooLarge):
        await send(lambda _: httpx.Response(200, content=b"x" * 1025), limit=LIMIT)
