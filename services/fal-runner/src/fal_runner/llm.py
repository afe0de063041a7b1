"""``fal.llm``: one raw call of fal's LLM endpoint (``openrouter/router``) for prompt-llm, under a
slot of the same pool.

Errors are typed for the caller: no slot in time or fal rate limiting → ``ProviderBusy``; a refused
request (bad model name, moderation) → ``ProviderRejected``; a failed run, an unusable answer or
fal down → ``ProviderError``; the request's own timeout, or fal's 504 for a model that did not
answer in time → ``Timeout``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from medialab_contracts.catalog import LLM_ENDPOINT
from medialab_contracts.errors import MediaLabError, ProviderBusy, ProviderError, ProviderRejected, Timeout
from medialab_contracts.events import FailureReason
from medialab_contracts.llm import FalLlmReply, FalLlmRequest, LlmUsage
from pydantic import BaseModel, ConfigDict, ValidationError

from fal_runner.execution import DeadlineExceeded, FalExecutor
from fal_runner.fal_api import FalError, FalRejected, FalUnreachable
from fal_runner.metrics import OUTCOMES

log = logging.getLogger(__name__)

_GATEWAY_TIMEOUT = 504
_REJECTED = frozenset({FailureReason.provider_rejected, FailureReason.moderation})


def llm_arguments(request: FalLlmRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "model": request.model,
        "reasoning": request.reasoning,
    }
    optional = {
        "system_prompt": request.system_prompt,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    arguments.update({name: value for name, value in optional.items() if value is not None})
    return arguments


class RouterOutput(BaseModel):
    """The router's answer (fal's OpenrouterRouterOutput): ``output`` and ``usage`` are required;
    ``reasoning`` comes when asked for, ``error`` when the model failed after starting."""

    model_config = ConfigDict(extra="ignore")

    output: str
    usage: LlmUsage
    reasoning: str | None = None
    error: str | None = None


def _timed_out(error: FalError) -> bool:
    if isinstance(error, FalUnreachable):
        return error.last in ("deadline", str(_GATEWAY_TIMEOUT))
    return isinstance(error, FalRejected) and error.status == _GATEWAY_TIMEOUT


def _typed(error: FalError) -> MediaLabError:
    if isinstance(error, FalUnreachable) and error.last == "429":
        return ProviderBusy("fal is rate limiting")
    if _timed_out(error):
        return Timeout("the LLM did not answer in time")
    if isinstance(error, FalRejected) and error.reason in _REJECTED:
        return ProviderRejected(f"fal refused the request ({error.reason})")
    return ProviderError(f"fal failed the request ({error.reason})")


class FalLlm:
    def __init__(self, executor: FalExecutor) -> None:
        self._executor = executor

    async def __call__(self, request: FalLlmRequest) -> FalLlmReply:
        try:
            reply = await self._call(request)
        except MediaLabError as error:
            OUTCOMES.labels("llm", error.code.value).inc()
            raise
        OUTCOMES.labels("llm", "succeeded").inc()
        return reply

    async def _call(self, request: FalLlmRequest) -> FalLlmReply:
        deadline = time.monotonic() + request.timeout_s
        try:
            done = await self._executor.run(LLM_ENDPOINT, llm_arguments(request), deadline=deadline)
        except DeadlineExceeded as error:
            if error.waiting_for_slot:
                raise ProviderBusy("no fal slot free in time") from None
            raise Timeout("the LLM did not answer in time") from None
        except FalError as error:
            log.warning("fal.llm %s failed: %s", request.request_id, error.detail)
            raise _typed(error) from None
        try:
            answer = RouterOutput.model_validate(done.body)
        except ValidationError:
            raise ProviderError("the LLM answer has no output text or usage") from None
        if answer.error:
            log.warning("fal.llm %s: the model reported an error", request.request_id)
            raise ProviderError("the LLM reported an error")
        return FalLlmReply(
            output=answer.output,
            reasoning=answer.reasoning,
            usage=answer.usage,
            trace_id=request.trace_id,
        )
