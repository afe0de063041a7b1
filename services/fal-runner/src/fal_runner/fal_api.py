"""fal's queue, storage and CDN over plain httpx (shared/providers/fal.md §2–§7).

Every call retries 429, 408/409, 5xx and network errors with exponential backoff and full jitter,
within the caller's deadline and a bounded number of attempts; anything else is a final answer.
Keys travel only in the ``Authorization`` header of queue and REST calls, never to a CDN URL, and
never into an error message.

Every upload and submit asks fal to delete its files after ``object_expiry_s``
(``X-Fal-Object-Lifecycle-Preference``, fal docs "Data Retention & Storage": CDN files are public
URLs, and users' faces must not stay there), and every submit carries ``X-Fal-Request-Timeout``, the
time left to our deadline: a request that cannot start by then is dropped by fal, unbilled, with a
504 marked ``X-Fal-Request-Timeout-Type: user`` (fal docs "Common parameters"), never retried.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from medialab_contracts.events import FailureReason
from medialab_runtime.http_retry import (
    BodyLimit,
    RetryPolicy,
    Transient,
    json_or_none,
    retry_after,
    retry_transient,
    send_once,
    unreachable_reason,
)
from medialab_runtime.output_hosts import HostAllowList
from medialab_runtime.provider_keys import ProviderKey

from fal_runner.metrics import RETRIES

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
_NAMESPACES = ("workflows", "comfy")
_DISABLED = "temporarily disabled"
_TOKEN_MARGIN = timedelta(minutes=1)
_USER_AGENT = "medialab-fal-runner"
_LOCKED = "user is locked"
# fal_client refuses a request timeout of 1 s or less.
MIN_REQUEST_TIMEOUT_S = 1.0
DEFAULT_OBJECT_EXPIRY_S = 86_400
# The FAL_RETRY_* defaults, for a client built without settings.
DEFAULT_RETRY = RetryPolicy(base_s=0.2, max_s=5.0, max_attempts=8)


class FalError(Exception):
    reason: FailureReason = FailureReason.provider_error

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class FalRejected(FalError):
    """A final answer from fal: a refused request or a failed model run.

    ``key_refused``: fal refused the key or its account (401, or 403 "User is locked"), whatever the
    request; any other refusal concerns the request or the endpoint.
    """

    def __init__(self, status: int, reason: FailureReason, detail: str, *, key_refused: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.key_refused = key_refused


class FalUnreachable(FalError):
    """Retries ran out (attempts or deadline) on 429 / 5xx / network errors."""

    def __init__(self, last: str, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts, last: {last}")
        self.last = last  # an HTTP status, "network", or "deadline" (no time left to try)
        self.reason = unreachable_reason(last)


class RequestGone(FalError):
    """fal does not know the request (results are kept 1 h, or 6 min when large)."""


@dataclass(frozen=True)
class Submission:
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str


@dataclass(frozen=True)
class QueueStatus:
    state: str  # IN_QUEUE | IN_PROGRESS | COMPLETED
    queue_position: int | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def completed(self) -> bool:
        return self.state == "COMPLETED"


@dataclass
class _UploadToken:
    token: str
    token_type: str
    base_url: str
    expires_at: datetime


def app_path(model_id: str) -> str:
    """``owner/app`` of a model id: status, result and cancel live under it (fal.md §2)."""
    parts = model_id.strip("/").split("/")
    width = 3 if parts[0] in _NAMESPACES else 2
    return "/".join(parts[:width])


def _detail_items(body: Any) -> list[dict[str, Any]]:
    detail = body.get("detail") if isinstance(body, dict) else None
    return [item for item in detail if isinstance(item, dict)] if isinstance(detail, list) else []


def _detail_text(body: Any) -> str:
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else ""


def error_types(body: Any, headers: httpx.Headers | None = None) -> set[str]:
    types = {str(item.get("type")) for item in _detail_items(body) if item.get("type")}
    if isinstance(body, dict) and isinstance(body.get("error_type"), str):
        types.add(body["error_type"])
    if headers is not None and headers.get("x-fal-error-type"):
        types.add(headers["x-fal-error-type"])
    return types


def refuses_key(status: int, body: Any) -> bool:
    """fal's proof that the key or its account is refused: 401 ("No user found for Key ID and
    Secret"), or 403 whose detail says the user is locked (exhausted balance, admin lock). A 403
    without it may be one endpoint's refusal and says nothing about the key."""
    return status == 401 or (status == 403 and _LOCKED in _detail_text(body).lower())


def _start_timed_out(status: int, headers: httpx.Headers | None) -> bool:
    return status == 504 and headers is not None and headers.get("x-fal-request-timeout-type") == "user"


def classify(status: int, body: Any, headers: httpx.Headers | None = None) -> FailureReason:
    if "content_policy_violation" in error_types(body, headers):
        return FailureReason.moderation
    if _start_timed_out(status, headers):
        return FailureReason.timeout
    if refuses_key(status, body) or _DISABLED in _detail_text(body).lower():
        return FailureReason.provider_unavailable
    if 400 <= status < 500:
        return FailureReason.provider_rejected
    return FailureReason.provider_error


def safe_detail(what: str, status: int, body: Any, headers: httpx.Headers | None = None) -> str:
    """For operators: status, error types and field paths; a string detail cut short. Never inputs."""
    parts = [f"{what}: HTTP {status}"]
    items = _detail_items(body)
    if items:
        described = []
        for item in items[:3]:
            loc = item.get("loc")
            where = ".".join(str(p) for p in loc[1:]) if isinstance(loc, list) else ""
            described.append(f"{where or 'body'}:{item.get('type', '?')}")
        parts.append(", ".join(described))
    elif text := _detail_text(body):
        parts.append(text[:160])
    if types := error_types(body, headers) - {str(i.get("type")) for i in items}:
        parts.append("type " + ",".join(sorted(types)))
    return " — ".join(parts)[:400]


def _retryable(response: httpx.Response) -> bool:
    if _start_timed_out(response.status_code, response.headers):
        return False  # our own start deadline passed: fal dropped the request, asking again is futile
    return response.status_code in RETRYABLE_STATUSES and _DISABLED not in response.text.lower()


# fal's CDN (fal.md §7): uploads and outputs on v3.fal.media, also seen on v3b.fal.media and,
# from older clients, fal.media itself. Shared buckets (storage.googleapis.com) are left out on
# purpose: anyone can put a file there.
OUTPUT_HOSTS = "fal.media,*.fal.media"
DEFAULT_OUTPUT_HOSTS = HostAllowList.parse(OUTPUT_HOSTS)


class FalClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        queue_base: str,
        rest_base: str,
        retry: RetryPolicy | None = None,
        max_output_bytes: int = 64 * 1024 * 1024,
        object_expiry_s: int = DEFAULT_OBJECT_EXPIRY_S,
        output_hosts: HostAllowList = DEFAULT_OUTPUT_HOSTS,
    ) -> None:
        self._http = http
        self._output_hosts = output_hosts
        self._lifecycle = json.dumps({"expiration_duration_seconds": object_expiry_s})
        self.queue_base = queue_base.rstrip("/")
        self.rest_base = rest_base.rstrip("/")
        self._retry = retry or DEFAULT_RETRY
        self._output_limit = BodyLimit(max_output_bytes, _output_too_large)
        self._tokens: dict[str, _UploadToken] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----- queue -----------------------------------------------------------------------------------

    async def submit(
        self, key: ProviderKey, model_id: str, arguments: dict[str, Any], deadline: float
    ) -> Submission:
        start_within = max(MIN_REQUEST_TIMEOUT_S + 0.1, deadline - time.monotonic())
        headers = {
            "X-Fal-Object-Lifecycle-Preference": self._lifecycle,
            "X-Fal-Request-Timeout": f"{start_within:.1f}",
        }
        response = await self._send(
            "POST", f"{self.queue_base}/{model_id}", key, deadline, headers=headers, json=arguments
        )
        body = _checked(response, "submit")
        if not isinstance(body.get("request_id"), str):
            raise FalRejected(response.status_code, FailureReason.provider_error, "submit: no request_id")
        request_id = body["request_id"]
        # Use the URLs fal returns (fal.md §2), but only towards the queue host we were given.
        base = f"{self.queue_base}/{app_path(model_id)}/requests/{request_id}"
        return Submission(
            request_id=request_id,
            status_url=self._own(body.get("status_url"), f"{base}/status"),
            response_url=self._own(body.get("response_url"), base),
            cancel_url=self._own(body.get("cancel_url"), f"{base}/cancel"),
        )

    async def status(self, key: ProviderKey, submission: Submission, deadline: float) -> QueueStatus:
        response = await self._send("GET", submission.status_url, key, deadline, gone_is_404=True)
        body = _checked(response, "status")
        if not isinstance(body.get("status"), str):
            raise FalRejected(response.status_code, FailureReason.provider_error, "status: no status field")
        position = body.get("queue_position")
        error, error_type = body.get("error"), body.get("error_type")
        return QueueStatus(
            state=body["status"],
            queue_position=position if isinstance(position, int) and position >= 0 else None,
            error=error if isinstance(error, str) else None,
            error_type=error_type if isinstance(error_type, str) else None,
        )

    async def result(
        self, key: ProviderKey, submission: Submission, deadline: float, *, failed: bool
    ) -> dict[str, Any]:
        """The model's output; a failed run raises ``FalRejected`` with the reason from its answer.

        ``failed`` (the status said so) makes any error answer final: the result endpoint replays
        the model's own error, which is its outcome, not a hiccup to retry.
        """
        response = await self._send(
            "GET", submission.response_url, key, deadline, gone_is_404=True, replay_errors=failed
        )
        return _checked(response, "result")

    async def cancel(self, key: ProviderKey, submission: Submission) -> None:
        """Best effort: one try, a short timeout, never raises. fal answers 202 CANCELLATION_REQUESTED
        or 400 ALREADY_COMPLETED (fal.md §3.4); either way the request's status tells how it ended."""
        try:
            response = await self._http.put(submission.cancel_url, headers=self._auth(key), timeout=2.0)
            log.info("cancelled fal request %s: HTTP %d", submission.request_id, response.status_code)
        except httpx.HTTPError as error:
            log.warning("could not cancel fal request %s: %s", submission.request_id, type(error).__name__)

    # ----- storage ---------------------------------------------------------------------------------

    async def upload(
        self, key: ProviderKey, data: bytes, content_type: str, file_name: str, deadline: float
    ) -> str:
        """Put ``data`` on fal's CDN (token + ``/files/upload``, fal.md §7) and return its URL."""
        response: httpx.Response | None = None
        for fresh in (False, True):
            token = await self._token(key, deadline, fresh=fresh)
            response = await self._send(
                "POST",
                f"{token.base_url.rstrip('/')}/files/upload",
                None,
                deadline,
                content=data,
                headers={
                    "Content-Type": content_type,
                    "X-Fal-File-Name": file_name,
                    "X-Fal-Object-Lifecycle-Preference": self._lifecycle,
                    "Authorization": f"{token.token_type} {token.token}",
                },
            )
            if response.status_code != 401:
                break  # else the cached token expired early: get a new one, once
        assert response is not None
        if response.status_code >= 400:
            raise FalRejected(
                response.status_code, FailureReason.provider_error, f"upload: HTTP {response.status_code}"
            )
        body = json_or_none(response)
        if not isinstance(body, dict) or not isinstance(body.get("access_url"), str):
            raise FalRejected(response.status_code, FailureReason.provider_error, "upload: no access_url")
        return str(body["access_url"])

    async def download(self, url: str, deadline: float) -> bytes:
        """An output file: a CDN URL (fetched without credentials) or a ``data:`` URI."""
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if not header.endswith(";base64"):
                raise FalRejected(200, FailureReason.provider_error, "output: unsupported data URI")
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise FalRejected(200, FailureReason.provider_error, "output: bad base64") from None
        if not url.startswith(("https://", "http://")):
            raise FalRejected(200, FailureReason.provider_error, "output: unsupported URL scheme")
        if not self._output_hosts.allows(url):
            raise FalRejected(
                200,
                FailureReason.provider_error,
                f"output on {self._output_hosts.describe(url)}, not a fal CDN host: not fetched",
            )
        response = await self._send("GET", url, None, deadline, bounded=True)
        if response.status_code >= 400:
            raise FalRejected(
                response.status_code,
                FailureReason.provider_error,
                f"output download: HTTP {response.status_code}",
            )
        return response.content

    # ----- plumbing --------------------------------------------------------------------------------

    def _auth(self, key: ProviderKey) -> dict[str, str]:
        return {"Authorization": f"Key {key.secret.get_secret_value()}", "User-Agent": _USER_AGENT}

    def _own(self, url: object, fallback: str) -> str:
        return url if isinstance(url, str) and url.startswith(self.queue_base + "/") else fallback

    async def _token(self, key: ProviderKey, deadline: float, *, fresh: bool) -> _UploadToken:
        cached = self._tokens.get(key.fingerprint)
        if cached is not None and not fresh and cached.expires_at - _TOKEN_MARGIN > datetime.now(UTC):
            return cached
        response = await self._send(
            "POST",
            f"{self.rest_base}/storage/auth/token",
            key,
            deadline,
            params={"storage_type": "fal-cdn-v3"},
            json={},
        )
        body = _checked(response, "storage token")
        try:
            expires_at = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            token = _UploadToken(
                token=str(body["token"]),
                token_type=str(body.get("token_type") or "Bearer"),
                base_url=str(body["base_url"]),
                expires_at=expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC),
            )
        except (KeyError, ValueError):
            raise FalRejected(
                response.status_code, FailureReason.provider_error, "storage token: bad answer"
            ) from None
        self._tokens[key.fingerprint] = token
        return token

    async def _send(
        self,
        method: str,
        url: str,
        key: ProviderKey | None,
        deadline: float,
        *,
        gone_is_404: bool = False,
        replay_errors: bool = False,
        bounded: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One HTTP call with retries of 429/408/409/5xx and network errors; returns any final answer.

        ``replay_errors``: every HTTP answer is final (no retry on its status).
        ``bounded``: a streamed GET that refuses bodies over the output limit.
        """
        base_headers = self._auth(key) if key is not None else {"User-Agent": _USER_AGENT}
        request_headers = {**base_headers, **(headers or {})}

        async def attempt_once(attempt: int) -> httpx.Response:
            response = await send_once(
                self._http,
                method,
                url,
                deadline,
                what=f"fal {method}",
                headers=request_headers,
                expired=lambda: FalUnreachable("deadline", attempt - 1),
                limit=self._output_limit if bounded else None,
                **kwargs,
            )
            if response.status_code == 404 and gone_is_404:
                raise RequestGone("fal does not know this request")
            if response.status_code < 400 or replay_errors or not _retryable(response):
                return response
            raise Transient(str(response.status_code), retry_after(response))

        return await retry_transient(
            attempt_once,
            self._retry,
            deadline,
            give_up=FalUnreachable,
            on_failure=lambda cause: RETRIES.labels(cause).inc(),
            what=f"fal {method}",
        )


def _output_too_large() -> FalRejected:
    return FalRejected(200, FailureReason.provider_error, "output larger than allowed")


def _checked(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; any error answer becomes a classified ``FalRejected``."""
    body = json_or_none(response)
    if response.status_code >= 400:
        raise FalRejected(
            response.status_code,
            classify(response.status_code, body, response.headers),
            safe_detail(what, response.status_code, body, response.headers),
            key_refused=refuses_key(response.status_code, body),
        )
    if not isinstance(body, dict):
        raise FalRejected(response.status_code, FailureReason.provider_error, f"{what}: not a JSON object")
    return body
