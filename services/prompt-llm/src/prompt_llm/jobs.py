"""The M2 job (``jobs.llm.prompt``): the user's words → a detailed prompt, delivered like any result.

M2 runs as a job, not as the gateway's request-reply call, so that it has what every paid job has:
the reservation is published as a job right away, a process killed mid-call hands the job back to the
stream, and billing settles it from the final event.
"""

from __future__ import annotations

import logging
import time

from medialab_contracts.errors import (
    LlmBadOutput,
    MediaLabError,
    ProviderBusy,
    ProviderRejected,
    ServiceUnavailable,
    Timeout,
)
from medialab_contracts.events import FailureReason
from medialab_contracts.jobs import JobRequest
from medialab_contracts.llm import WritePromptRequest
from medialab_runtime.jobs import JobControl, JobResult, RetryLater
from pydantic import ValidationError

from prompt_llm.operations import PromptLlm

log = logging.getLogger(__name__)

# Worth another delivery: the provider's slots were all taken, or fal-runner did not answer.
_TRANSIENT: tuple[type[MediaLabError], ...] = (ProviderBusy, ServiceUnavailable)

_REASONS: tuple[tuple[type[MediaLabError], FailureReason], ...] = (
    (LlmBadOutput, FailureReason.provider_error),
    (ProviderRejected, FailureReason.provider_rejected),
    (Timeout, FailureReason.timeout),
)


def failure_reason(error: MediaLabError) -> FailureReason:
    return next((reason for kind, reason in _REASONS if isinstance(error, kind)), FailureReason.internal)


class PromptJobHandler:
    def __init__(self, operations: PromptLlm) -> None:
        self._operations = operations

    async def __call__(self, job: JobRequest, control: JobControl) -> JobResult:
        try:
            request = WritePromptRequest(text=job.prompt.strip(), trace_id=job.trace_id)
        except ValidationError as error:
            first = error.errors()[0]
            # Too many words the user can shorten; none at all is a job the gateway should not have sent.
            too_long = first["type"] == "string_too_long"
            reason = FailureReason.text_too_long if too_long else FailureReason.bad_input
            return control.failed(reason, f"words refused: {first['msg']}")
        started = time.perf_counter()
        try:
            reply = await self._operations.write_prompt(request)
        except _TRANSIENT as error:
            raise RetryLater(error.code.value) from None
        except MediaLabError as error:
            log.warning("write_prompt failed: %s", error.code)
            return control.failed(failure_reason(error), error.code.value)
        llm_ms = round((time.perf_counter() - started) * 1000)
        return control.succeeded([], text=reply.prompt, provider_ms=llm_ms)
