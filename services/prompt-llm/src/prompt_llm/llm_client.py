"""Raw LLM calls: ``fal.llm`` on fal-runner, which holds a provider slot while it calls the LLM."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from medialab_contracts import subjects
from medialab_contracts.errors import BadRequest, InternalError, MediaLabError, ProviderError
from medialab_contracts.llm import FalLlmReply, FalLlmRequest
from medialab_runtime.rpc import call
from nats.aio.client import Client
from pydantic import ValidationError

from prompt_llm.metrics import PROVIDER_CALLS, TOKENS

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 20_000  # FalLlmRequest's bound


@dataclass(frozen=True)
class LlmCall:
    operation: str
    system_prompt: str
    prompt: str
    temperature: float | None
    max_tokens: int | None
    trace_id: str
    timeout_s: float  # fal-runner's budget for this call, slot wait included


class LlmClient:
    def __init__(self, nc: Client, model: str, reply_margin_s: float) -> None:
        self._nc = nc
        self._model = model
        self._reply_margin_s = reply_margin_s

    @property
    def model(self) -> str:
        return self._model

    async def complete(self, llm_call: LlmCall) -> str:
        """The model's text, or the typed error fal-runner answered with."""
        request = FalLlmRequest(
            trace_id=llm_call.trace_id,
            model=self._model,
            prompt=llm_call.prompt[:MAX_PROMPT_CHARS],
            system_prompt=llm_call.system_prompt,
            temperature=llm_call.temperature,
            max_tokens=llm_call.max_tokens,
            timeout_s=llm_call.timeout_s,
        )
        try:
            reply = await call(
                self._nc,
                subjects.FAL_LLM,
                request,
                FalLlmReply,
                timeout=llm_call.timeout_s + self._reply_margin_s,
            )
        except BadRequest as error:
            # fal-runner refused our own request: a bug on our side, not the user's input.
            PROVIDER_CALLS.labels(llm_call.operation, error.code.value).inc()
            log.error("fal.llm refused the request: %s", error.message)
            raise InternalError("llm request refused") from None
        except ValidationError:
            PROVIDER_CALLS.labels(llm_call.operation, ProviderError.code.value).inc()
            raise ProviderError("malformed fal.llm reply") from None
        except MediaLabError as error:
            PROVIDER_CALLS.labels(llm_call.operation, error.code.value).inc()
            log.warning("fal.llm failed for %s: %s %s", llm_call.operation, error.code.value, error.message)
            raise
        PROVIDER_CALLS.labels(llm_call.operation, "ok").inc()
        TOKENS.labels(llm_call.operation, "prompt").inc(reply.usage.prompt_tokens)
        TOKENS.labels(llm_call.operation, "completion").inc(reply.usage.completion_tokens)
        return reply.output
