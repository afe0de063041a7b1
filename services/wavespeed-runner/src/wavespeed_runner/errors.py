"""What WaveSpeed's answers mean for a job (shared/providers/wavespeed.md §6).

HTTP level: 401/403 (and 402) are the account's problem → ``provider_unavailable``; 429, 408 and
5xx are transient → retried with backoff; other 4xx refuse the request → ``provider_rejected``.
Task level (HTTP 200, ``status: failed``, ``data.code``): 1xxx means the request cannot succeed as
sent → final, with the reason the code (and, for a face swap, the message) names; 5xxx is
WaveSpeed's side → the task is submitted again while the deadline allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medialab_contracts.events import FailureReason
from medialab_runtime.http_retry import unreachable_reason

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_UNAVAILABLE_STATUSES = frozenset({401, 402, 403})

MODERATION_CODE = 1200
BAD_INPUT_CODES = frozenset({1400, 1401, 1402})
# "No face detected", "face not found", "could not detect a face": the model found nothing to swap.
_NO_FACE = re.compile(
    r"\b(no|not|zero|missing|detect\w*|find|found)\b.*\bfaces?\b|\bfaces?\b.*\b(no|not)\b", re.I
)
_MODERATION = re.compile(r"nsfw|sensitive|moderation|content policy|inappropriate", re.I)
_DETAIL_CHARS = 160


class WaveSpeedError(Exception):
    reason: FailureReason = FailureReason.provider_error

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class WaveSpeedRejected(WaveSpeedError):
    """A final HTTP answer: the request is refused, or the account cannot be used."""

    def __init__(self, status: int, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason


class WaveSpeedUnreachable(WaveSpeedError):
    """Retries of 429 / 5xx / network errors ran out (attempts or deadline)."""

    def __init__(self, what: str, last: str, attempts: int) -> None:
        super().__init__(f"{what}: gave up after {attempts} attempts, last: {last}")
        self.last = last
        self.reason = unreachable_reason(last)


class SubmitUncertain(WaveSpeedError):
    """A submit went out and its answer was lost (read timeout, dropped connection) or was a 5xx:
    WaveSpeed may have created (and will bill) the task. Sending it again could make a second one."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"submit: answer lost ({cause}); the task may exist at WaveSpeed")
        self.cause = cause


class SubmitUnresolved(WaveSpeedError):
    """An uncertain submit whose task the prediction list could neither show nor rule out: the job
    fails (uncharged) rather than risk a second billed task."""


def http_reason(status: int) -> FailureReason:
    if status in _UNAVAILABLE_STATUSES:
        return FailureReason.provider_unavailable
    if 400 <= status < 500:
        return FailureReason.provider_rejected
    return FailureReason.provider_error


def short(text: str) -> str:
    """A provider message cut to a length fit for an operator's detail line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 1] + "…"


@dataclass(frozen=True)
class TaskOutcome:
    """How a failed task ends the job, or whether a new task is worth submitting."""

    reason: FailureReason
    retryable: bool
    detail: str


def task_outcome(status: str, code: int | None, error: str) -> TaskOutcome:
    """Classify a task that ended without outputs (``failed``, or the SDK's other terminal states)."""
    detail = f"task {status}, code {code if code is not None else '-'}: {short(error) or 'no message'}"
    if status == "timeout" or (code is not None and 5000 <= code <= 5999):
        return TaskOutcome(FailureReason.provider_error, True, detail)
    if code in BAD_INPUT_CODES:
        return TaskOutcome(FailureReason.bad_input, False, detail)
    if code == MODERATION_CODE or _MODERATION.search(error):
        return TaskOutcome(FailureReason.moderation, False, detail)
    if _NO_FACE.search(error):
        return TaskOutcome(FailureReason.no_face, False, detail)
    return TaskOutcome(FailureReason.provider_error, False, detail)
