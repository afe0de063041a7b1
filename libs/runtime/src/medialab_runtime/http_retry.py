"""A provider's HTTP calls: retries with backoff inside the caller's deadline, and bounded downloads.

Both provider runners follow one discipline: a transient failure (a status the provider calls
retryable, or a network error) is tried again after the backoff or the server's ``Retry-After``,
whichever is longer, until the attempts run out or the pause would end past the deadline. What
counts as transient and what the final error says stay with each provider's client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from medialab_contracts.events import FailureReason

from medialab_runtime.backoff import retry_delay

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures before a single byte of the request went out: connecting, or waiting for a pooled connection.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Used when the client has no read timeout of its own: a provider call must never wait forever.
_FALLBACK_READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: ``base_s × 2^(n-1)``, capped at ``max_s``."""

    base_s: float
    max_s: float
    max_attempts: int = 8

    def delay(self, attempt: int) -> float:
        return retry_delay(attempt, self.base_s, self.max_s)


class Transient(Exception):
    """One call failed in a way worth another try: ``cause`` is the HTTP status or 'network'.

    ``unsent``: the request never left (no connection could be made), so the provider cannot have
    acted on it; a call that creates something may be retried blindly only then.
    """

    def __init__(self, cause: str, retry_after: float = 0.0, *, unsent: bool = False) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after
        self.unsent = unsent


def unreachable_reason(last: str) -> FailureReason:
    """What a job failed of when retries ran out on ``last`` (a ``Transient`` cause, or "deadline"):
    a provider still shedding load is busy (worth another try in a minute); no time left is a timeout."""
    if last == "deadline":
        return FailureReason.timeout
    if last == "429":
        return FailureReason.provider_busy
    return FailureReason.provider_error


async def retry_transient(
    attempt_once: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    deadline: float,
    *,
    give_up: Callable[[str, int], Exception],
    on_failure: Callable[[str], None],
    what: str,
) -> T:
    """Call ``attempt_once(n)`` (n from 1) until it returns; it raises ``Transient`` to be tried again.

    Raises ``give_up(cause, attempts)`` once the attempts run out or the pause before the next one
    would end at or past ``deadline``; ``on_failure(cause)`` counts every transient failure.
    ``what`` names the call in log lines ("fal POST").
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once(attempt)
        except Transient as failure:
            on_failure(failure.cause)
            delay = max(policy.delay(attempt), failure.retry_after)
            if attempt >= policy.max_attempts or time.monotonic() + delay >= deadline:
                raise give_up(failure.cause, attempt) from None
            log.info("%s answered %s; retry %d in %.2fs", what, failure.cause, attempt, delay)
            await asyncio.sleep(delay)


def provider_http_client(read_timeout_s: float, *, follow_redirects: bool = False) -> httpx.AsyncClient:
    """The one HTTP client a runner shares between all its jobs: a wide pool, since every job in
    flight polls over it, and a connect timeout shorter than any read."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout_s, connect=10.0),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        follow_redirects=follow_redirects,
    )


@dataclass(frozen=True)
class BodyLimit:
    """How large a downloaded body may grow, and the error a larger one raises."""

    max_bytes: int
    too_large: Callable[[], Exception]


async def send_once(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    deadline: float,
    *,
    what: str,
    headers: dict[str, str],
    expired: Callable[[], Exception],
    limit: BodyLimit | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request, given at most the time left before ``deadline`` (``expired()`` is raised when none
    is); a network error raises ``Transient("network")``. With ``limit``, a streamed GET that stops
    reading a body past the limit, so a hostile or broken output URL cannot fill the memory."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired()
    timeout = min(remaining, _read_timeout(http))
    try:
        if limit is not None:
            return await _bounded_get(http, url, headers, timeout, limit)
        return await http.request(method, url, headers=headers, timeout=timeout, **kwargs)
    except httpx.TransportError as error:
        log.debug("%s failed: %s", what, type(error).__name__)
        raise Transient("network", unsent=isinstance(error, _UNSENT)) from None


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def retry_after(response: httpx.Response) -> float:
    """``Retry-After`` in seconds; 0 when absent or not a number (an HTTP date is not honoured)."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _read_timeout(http: httpx.AsyncClient) -> float:
    timeout = http.timeout.read
    return timeout if timeout is not None else _FALLBACK_READ_TIMEOUT_S


async def _bounded_get(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], timeout: float, limit: BodyLimit
) -> httpx.Response:
    """An error answer is returned whole, for the caller to judge."""
    async with http.stream("GET", url, headers=headers, timeout=timeout) as response:
        if response.status_code >= 400:
            await response.aread()
            return response
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit.max_bytes:
                raise limit.too_large()
            chunks.append(chunk)
        return httpx.Response(response.status_code, headers=response.headers, content=b"".join(chunks))
