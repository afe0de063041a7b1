"""WaveSpeed's v3 REST API over plain httpx (shared/providers/wavespeed.md §1–§8).

Answers come in an envelope ``{code, message, data}``; an envelope ``code`` other than 2xx on an
HTTP 200 counts as that status. Uploads retry transient failures (429, 408, 5xx, network) with
exponential backoff and full jitter, within the caller's deadline and a bounded number of attempts;
polls and lookups make one attempt each and leave pacing to their loop. A submit makes one attempt
and says whether a task may exist; submission.py decides what comes next.
The key travels only in the ``Authorization`` header of calls to the API base, never to a signed
upload URL or an output URL, and never into an error message.
"""

from __future__ import annotations

import base64
import binascii
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
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
)
from medialab_runtime.output_hosts import HostAllowList

from wavespeed_runner.errors import (
    RETRYABLE_STATUSES,
    SubmitUncertain,
    WaveSpeedRejected,
    WaveSpeedUnreachable,
    http_reason,
    short,
)
from wavespeed_runner.metrics import RETRIES, UPLOADS

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timeout", "deleted"})
# The ticket endpoint is missing on an older deployment: use the legacy binary upload from then on.
_NO_TICKET_FLOW = frozenset({404, 405, 501})
_USER_AGENT = "medialab-wavespeed-runner"
# Refusals that come before a task is created: a submit answered so is safe to send again.
_REFUSED_BEFORE_CREATING = frozenset({"408", "425", "429"})
# The prediction list: pages of at most 100 (the documented maximum); a lookup's window holds the
# tasks started since one submit, so a few pages cover even a Silver account's 500 starts/min.
_LOOKUP_PAGE_SIZE = 100
_LOOKUP_PAGES = 5
# The WAVESPEED_RETRY_* defaults, for a client built without settings: longer pauses than fal's, as
# WaveSpeed limits task starts per minute (wavespeed.md §7).
DEFAULT_RETRY = RetryPolicy(base_s=1.0, max_s=15.0, max_attempts=8)


@dataclass(frozen=True)
class TaskLookup:
    """What the prediction list says about a task whose submit answer was lost."""

    found: Prediction | None


@dataclass(frozen=True)
class Prediction:
    """``data`` of a submit or result answer."""

    task_id: str
    status: str
    outputs: tuple[str, ...] = ()
    error: str = ""
    code: int | None = None
    # ``has_nsfw_contents``, one flag per output: a flagged output is what the safety filter left.
    nsfw: tuple[bool, ...] = ()

    @property
    def safe_outputs(self) -> tuple[str, ...]:
        if len(self.nsfw) != len(self.outputs):
            return self.outputs
        return tuple(output for output, flagged in zip(self.outputs, self.nsfw, strict=True) if not flagged)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def completed(self) -> bool:
        return self.status == "completed"


def parse_prediction(data: Any, what: str) -> Prediction:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise WaveSpeedRejected(200, FailureReason.provider_error, f"{what}: no task id in the answer")
    outputs = data.get("outputs")
    code = data.get("code")
    error = data.get("error")
    nsfw = data.get("has_nsfw_contents")
    return Prediction(
        task_id=data["id"],
        status=str(data.get("status") or "").lower(),
        outputs=tuple(o for o in outputs if isinstance(o, str) and o) if isinstance(outputs, list) else (),
        error=error if isinstance(error, str) else "",
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        nsfw=tuple(flag is True for flag in nsfw) if isinstance(nsfw, list) else (),
    )


def _message(body: Any) -> str:
    """What an error answer says: ``message``, else ``error``, else ``data.error`` (wavespeed.md §6)."""
    if not isinstance(body, dict):
        return ""
    data = body.get("data")
    for value in (
        body.get("message"),
        body.get("error"),
        data.get("error") if isinstance(data, dict) else None,
    ):
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _effective_status(response: httpx.Response, body: Any) -> int:
    """The HTTP status, or the envelope's ``code`` when an HTTP 200 carries an error code."""
    code = body.get("code") if isinstance(body, dict) else None
    if response.status_code == 200 and isinstance(code, int) and not isinstance(code, bool):
        if not 200 <= code < 300:
            return code
    return response.status_code


# Where WaveSpeed serves outputs: its CloudFront distribution (``…cloudfront.net/predictions/<id>/``
# in every documented answer) and its own domain. Other CloudFront hosts are anyone's.
OUTPUT_HOSTS = "d1q70pf5vjeyhc.cloudfront.net,*.wavespeed.ai"
DEFAULT_OUTPUT_HOSTS = HostAllowList.parse(OUTPUT_HOSTS)
# The allow-list of the output download this task is making: outputs may redirect (to a CDN), and
# httpx follows the hops inside one call, so a request hook checks each hop before it is sent.
_DOWNLOADING: ContextVar[HostAllowList | None] = ContextVar("wavespeed_output_hosts", default=None)


class WaveSpeedClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        *,
        api_base: str,
        retry: RetryPolicy | None = None,
        max_output_bytes: int = 64 * 1024 * 1024,
        output_hosts: HostAllowList = DEFAULT_OUTPUT_HOSTS,
    ) -> None:
        self._http = http
        self._output_hosts = output_hosts
        hooks = http.event_hooks
        http.event_hooks = {**hooks, "request": [*hooks.get("request", []), _check_output_hop]}
        self._key = api_key
        self.api_base = api_base.rstrip("/")
        self._retry = retry or DEFAULT_RETRY
        self._output_limit = BodyLimit(max_output_bytes, _output_too_large)
        self._ticket_flow = True

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----- tasks -----------------------------------------------------------------------------------

    async def submit_once(self, model_id: str, arguments: dict[str, Any], deadline: float) -> Prediction:
        """One attempt to create a task, never retried here (see submission.py).

        Raises ``Transient`` only when no task can exist (no connection made; 429/408/425: refused
        before creating), ``SubmitUncertain`` when one may (the request went out and the answer was
        lost, or was a 5xx), ``WaveSpeedRejected`` for a final refusal.
        """
        try:
            url = f"{self.api_base}/api/v3/{model_id}"
            data = await self._once("submit", "POST", url, deadline, json=arguments)
        except Transient as failure:
            if failure.unsent or failure.cause in _REFUSED_BEFORE_CREATING:
                raise
            raise SubmitUncertain(failure.cause) from None
        return parse_prediction(data, "submit")

    async def find_task(
        self, model_id: str, arguments: dict[str, Any], since: datetime, deadline: float
    ) -> TaskLookup | None:
        """Look our task up in the prediction list (docs: docs-common-api/predictions): tasks of
        ``model_id`` created since ``since`` whose inputs are ``arguments``. The list carries
        inputs only with ``include_inputs``, which WaveSpeed's CLI sends but the docs do not list;
        without inputs a task of another job looks the same, so the answer is then ``None``.

        Returns ``TaskLookup`` (``found`` None: no such task); ``None`` when the list cannot tell.
        Raises ``Transient`` (try later) or ``WaveSpeedRejected``.
        """
        for page in range(1, _LOOKUP_PAGES + 1):
            data = await self._once(
                "lookup",
                "POST",
                f"{self.api_base}/api/v3/predictions",
                deadline,
                json={
                    "page": page,
                    "page_size": _LOOKUP_PAGE_SIZE,
                    "model": model_id,
                    "created_after": since.isoformat().replace("+00:00", "Z"),
                    "include_inputs": True,
                },
            )
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise WaveSpeedRejected(200, FailureReason.provider_error, "lookup: no items in the answer")
            tasks = [item for item in items if isinstance(item, dict) and item.get("model") == model_id]
            for item in tasks:
                inputs = item.get("inputs", item.get("input"))
                if not isinstance(inputs, dict):
                    return None  # inputs not listed: our task cannot be told from another job's
                if all(inputs.get(name) == value for name, value in arguments.items()):
                    return TaskLookup(parse_prediction(item, "lookup"))
            if len(items) < _LOOKUP_PAGE_SIZE:
                return TaskLookup(None)
        return None  # more tasks in the window than we page through: cannot say it is absent

    async def result(self, task_id: str, deadline: float) -> Prediction:
        """One poll. Raises ``Transient`` (poll again later) or ``WaveSpeedRejected`` (404: task unknown)."""
        data = await self._once(
            "poll", "GET", f"{self.api_base}/api/v3/predictions/{task_id}/result", deadline
        )
        return parse_prediction(data, "poll")

    # ----- media -----------------------------------------------------------------------------------

    async def upload(self, data: bytes, content_type: str, file_name: str, deadline: float) -> str:
        """Put an input on WaveSpeed's storage and return its URL: the ticket flow of the current SDK
        (wavespeed.md §8.1), or the legacy multipart endpoint (§8.2) when the ticket flow fails."""
        if self._ticket_flow:
            try:
                url = await self._upload_ticket(data, content_type, file_name, deadline)
            except WaveSpeedRejected as error:
                if error.reason is FailureReason.provider_unavailable:
                    raise  # the key is refused: the other endpoint will refuse it too
                log.warning("ticket upload failed (%s); using the binary upload", error.detail)
            except WaveSpeedUnreachable as error:
                log.warning("ticket upload failed (%s); using the binary upload", error.detail)
            else:
                UPLOADS.labels("ticket").inc()
                return url
        url = await self._upload_binary(data, content_type, file_name, deadline)
        UPLOADS.labels("binary").inc()
        return url

    async def _upload_ticket(self, data: bytes, content_type: str, file_name: str, deadline: float) -> str:
        try:
            ticket = await self._send(
                "upload",
                "POST",
                f"{self.api_base}/api/v3/media/uploads",
                deadline,
                json={"filename": file_name, "size": len(data), "content_type": content_type},
            )
        except WaveSpeedRejected as error:
            if error.status in _NO_TICKET_FLOW:
                self._ticket_flow = False
            raise
        target = ticket.get("upload") if isinstance(ticket, dict) else None
        download_url = ticket.get("download_url") if isinstance(ticket, dict) else None
        if (
            not isinstance(target, dict)
            or str(target.get("method", "PUT")).upper() != "PUT"
            or not isinstance(target.get("url"), str)
            or not isinstance(download_url, str)
        ):
            raise WaveSpeedRejected(200, FailureReason.provider_error, "upload ticket: no PUT target")
        headers = target.get("headers")
        put_headers = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
        put_headers.setdefault("Content-Type", content_type)
        # The signed URL carries its own authorisation: exactly the ticket's headers, no key.
        await self._send(
            "storage put",
            "PUT",
            target["url"],
            deadline,
            authorised=False,
            envelope=False,
            content=data,
            headers=put_headers,
        )
        return download_url

    async def _upload_binary(self, data: bytes, content_type: str, file_name: str, deadline: float) -> str:
        answer = await self._send(
            "upload",
            "POST",
            f"{self.api_base}/api/v3/media/upload/binary",
            deadline,
            files={"file": (file_name, data, content_type)},
        )
        url = answer.get("download_url") if isinstance(answer, dict) else None
        if not isinstance(url, str):
            raise WaveSpeedRejected(200, FailureReason.provider_error, "upload: no download_url")
        return url

    async def download(self, reference: str, deadline: float) -> bytes:
        """An output: a URL (fetched without credentials), a ``data:`` URI, or naked base64 (§5)."""
        if reference.startswith(("https://", "http://")):
            if not self._output_hosts.allows(reference):
                raise WaveSpeedRejected(
                    200,
                    FailureReason.provider_error,
                    f"output on {self._output_hosts.describe(reference)}, not a WaveSpeed host: not fetched",
                )
            downloading = _DOWNLOADING.set(self._output_hosts)
            try:
                body: bytes = await self._send(
                    "download", "GET", reference, deadline, authorised=False, envelope=False, bounded=True
                )
                return body
            finally:
                _DOWNLOADING.reset(downloading)
        payload = reference
        if reference.startswith("data:"):
            header, _, payload = reference.partition(",")
            if not header.endswith(";base64"):
                raise WaveSpeedRejected(200, FailureReason.provider_error, "output: unsupported data URI")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise WaveSpeedRejected(
                200, FailureReason.provider_error, "output: neither a URL nor base64"
            ) from None

    # ----- plumbing --------------------------------------------------------------------------------

    async def _send(self, what: str, method: str, url: str, deadline: float, **kwargs: Any) -> Any:
        """``_once`` with retries of transient failures, bounded by attempts and the deadline."""
        return await retry_transient(
            lambda _attempt: self._once(what, method, url, deadline, **kwargs),
            self._retry,
            deadline,
            give_up=lambda cause, attempts: WaveSpeedUnreachable(what, cause, attempts),
            on_failure=lambda cause: RETRIES.labels(what, cause).inc(),
            what=f"wavespeed {what}",
        )

    async def _once(
        self,
        what: str,
        method: str,
        url: str,
        deadline: float,
        *,
        authorised: bool = True,
        envelope: bool = True,
        bounded: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One call: the envelope's ``data`` (or the raw body) of a success; raises ``Transient``
        for a failure worth another try and ``WaveSpeedRejected`` for a final one."""
        request_headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        if authorised:
            request_headers["Authorization"] = f"Bearer {self._key}"
        response = await send_once(
            self._http,
            method,
            url,
            deadline,
            what=f"wavespeed {what}",
            headers=request_headers,
            expired=lambda: WaveSpeedUnreachable(what, "deadline", 0),
            limit=self._output_limit if bounded else None,
            **kwargs,
        )
        body = json_or_none(response) if envelope else None
        status = _effective_status(response, body)
        if status in RETRYABLE_STATUSES:
            raise Transient(str(status), retry_after(response))
        if not 200 <= status < 300:
            # A refusal from a signed URL or an output host says nothing about our key or request.
            reason = http_reason(status) if authorised else FailureReason.provider_error
            raise WaveSpeedRejected(status, reason, self._detail(what, status, body))
        if not envelope:
            return response.content
        if not isinstance(body, dict):
            raise WaveSpeedRejected(status, FailureReason.provider_error, f"{what}: not a JSON envelope")
        return body.get("data")

    def _detail(self, what: str, status: int, body: Any) -> str:
        detail = f"{what}: HTTP {status}"
        if message := short(_message(body)):
            detail += f" — {message}"
        # Belt and braces: an echoing proxy must not carry the key into an event or a log line.
        return detail.replace(self._key, "***")


async def _check_output_hop(request: httpx.Request) -> None:
    hosts = _DOWNLOADING.get()
    if hosts is not None and not hosts.allows(str(request.url)):
        raise WaveSpeedRejected(
            200,
            FailureReason.provider_error,
            f"output redirected to {request.url.host}, not a WaveSpeed host: not fetched",
        )


def _output_too_large() -> WaveSpeedRejected:
    return WaveSpeedRejected(200, FailureReason.provider_error, "output larger than allowed")
