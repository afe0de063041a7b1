"""prompt-llm's ``llm.translate`` over NATS request-reply."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.llm import TranslateReply, TranslateRequest
from medialab_runtime.rpc import call
from nats.aio.client import Client


class LlmClient:
    def __init__(self, nc: Client, translate_timeout: float) -> None:
        self._nc = nc
        self._translate_timeout = translate_timeout

    async def translate(self, text: str) -> TranslateReply:
        return await call(
            self._nc,
            subjects.LLM_TRANSLATE,
            TranslateRequest(text=text),
            TranslateReply,
            self._translate_timeout,
        )
