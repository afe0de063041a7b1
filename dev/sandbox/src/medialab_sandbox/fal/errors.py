"""Error replies in fal's wire shapes (shared/providers/fal.md §4).

An ``ErrorReply`` is a complete HTTP answer (status, JSON body, headers). The same object is used
for gateway errors (submit/poll), failed model runs (replayed by the result endpoint) and fault
knobs, and it is plain pydantic so the control client can send it over HTTP.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

ERRORS_DOC_URL = "https://docs.fal.ai/errors"

# Infra ("request errors") defaults per status code, from fal's request-errors page (§4).
_INFRA_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    499: ("client_cancelled", "Request cancelled by the client"),
    500: ("internal_error", "Internal server error"),
    502: ("runner_incomplete_response", "Runner returned an incomplete response"),
    503: ("runner_scheduling_failure", "Failed to schedule a runner"),
    504: ("request_timeout", "Request timed out"),
}


class ErrorReply(BaseModel):
    """An HTTP error answer exactly as the emulator sends it."""

    model_config = ConfigDict(frozen=True)

    status_code: int = Field(ge=400, le=599)
    body: dict[str, Any]
    headers: dict[str, str] = Field(default_factory=dict)

    @property
    def error_type(self) -> str | None:
        """Value for the ``error_type`` field of a COMPLETED status."""
        body_type = self.body.get("error_type")
        if isinstance(body_type, str):
            return body_type
        detail = self.body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            item_type = detail[0].get("type")
            return item_type if isinstance(item_type, str) else None
        return None

    @property
    def message(self) -> str:
        """Human-readable text for the ``error`` field of a COMPLETED status."""
        detail = self.body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return str(detail[0].get("msg", f"Invalid status code: {self.status_code}"))
        return f"Invalid status code: {self.status_code}"

    def to_response(self, request_id: str | None = None) -> JSONResponse:
        headers = dict(self.headers)
        if request_id is not None:
            headers["x-fal-request-id"] = request_id
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


class ReplyError(Exception):
    """Raised inside handlers to answer with ``reply``; rendered by one exception handler."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.message)
        self.reply = reply


def infra_error(
    status_code: int = 500, error_type: str | None = None, detail: str | None = None
) -> ErrorReply:
    """A platform error: ``{"detail", "error_type"}`` plus header ``X-Fal-Error-Type``."""
    default_type, default_detail = _INFRA_DEFAULTS.get(status_code, ("internal_error", "Error"))
    kind = error_type or default_type
    return ErrorReply(
        status_code=status_code,
        body={"detail": detail or default_detail, "error_type": kind},
        headers={"X-Fal-Error-Type": kind},
    )


def rate_limited(detail: str = "Too many requests") -> ErrorReply:
    # fal documents 429 (queue full, gateway concurrency) but not its body; the infra shape and
    # the type name "rate_limited" are an UNCONFIRMED guess.
    return infra_error(429, "rate_limited", detail)


def request_timeout_user() -> ErrorReply:
    """The 504 sent when ``X-Fal-Request-Timeout`` expired before the request started (§3.5)."""
    reply = infra_error(504, "request_timeout", "Request timed out before it could start")
    return reply.model_copy(update={"headers": {**reply.headers, "X-Fal-Request-Timeout-Type": "user"}})


def validation_error(items: list[dict[str, Any]]) -> ErrorReply:
    """A FastAPI-style 422 as fal apps send it; validation failures are never billed."""
    return ErrorReply(status_code=422, body={"detail": items}, headers={"x-fal-billable-units": "0"})


def field_error(
    loc: list[str | int], msg: str, error_type: str = "value_error", value: Any = None
) -> ErrorReply:
    """A 422 about one input field (``loc`` without the leading ``"body"``)."""
    item: dict[str, Any] = {"loc": ["body", *loc], "msg": msg, "type": error_type}
    if error_type != "value_error":
        item["url"] = f"{ERRORS_DOC_URL}#{error_type}"
    if value is not None:
        item["input"] = value
    return validation_error([item])


def content_policy_violation(prompt: str | None = None, categories: list[str] | None = None) -> ErrorReply:
    """A moderation refusal: a 422 ``content_policy_violation`` item, never retryable (§4)."""
    item: dict[str, Any] = {
        "loc": ["body", "prompt"],
        "msg": "The content could not be processed because it contained material flagged by a "
        "content checker.",
        "type": "content_policy_violation",
        "url": f"{ERRORS_DOC_URL}#content_policy_violation",
        "input": prompt,
        "categories": categories or [],
    }
    return ErrorReply(status_code=422, body={"detail": [item]}, headers={"X-Fal-Retryable": "false"})


def temporarily_disabled(model_id: str | None = None) -> ErrorReply:
    # fal's own text and status for a disabled endpoint were not found in any source
    # (UNCONFIRMED, shared/providers/fal.md §10); a 503 with a "Temporarily disabled" detail
    # is what our runner is told to expect.
    subject = f"{model_id} is" if model_id else "This endpoint is"
    return ErrorReply(
        status_code=503,
        body={"detail": f"Temporarily disabled: {subject} not accepting requests right now."},
    )


def model_error(status_code: int = 500, detail: str = "Internal error") -> ErrorReply:
    """An app exception with a plain string detail (``{"detail": "<message>"}``)."""
    return ErrorReply(status_code=status_code, body={"detail": detail})


def cancelled() -> ErrorReply:
    # What fal's result endpoint returns for a cancelled request is UNCONFIRMED; the infra
    # "client_cancelled" (499) error is the closest documented shape.
    return infra_error(499, "client_cancelled", "Request was cancelled")


def unauthorized(detail: str = "No user found for Key ID and Secret") -> ErrorReply:
    return ErrorReply(status_code=401, body={"detail": detail})


def forbidden(detail: str = "Access to this application is restricted") -> ErrorReply:
    """A 403 that is not about the key: one endpoint refusing this caller (its text is UNCONFIRMED).
    Only "User is locked" (``account_locked``) proves the account itself is refused."""
    return ErrorReply(status_code=403, body={"detail": detail})


def account_locked(reason: str) -> ErrorReply:
    return ErrorReply(status_code=403, body={"detail": f"User is locked. Reason: {reason}"})


def not_found(detail: str) -> ErrorReply:
    return ErrorReply(status_code=404, body={"detail": detail})
