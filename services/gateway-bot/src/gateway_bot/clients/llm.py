"""prompt-llm's ``llm.write_prompt`` and ``llm.translate`` over NATS request-reply."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.llm import TranslateReply, TranslateRequest, WritePromptReply, WritePromptRequest
from medialab_runtime.rpc import call
from nats.aio.client import Client


class LlmClient:
    def __init__(self, nc: Client, translate_timeout: float, write_timeout: float) -> None:
        self._nc = nc
        self._translate_timeout = translate_timeout
        self._write_timeout = write_timeout

    async def write_prompt(self, words: str) -> WritePromptReply:
        return await call(
            self._nc,
            subjects.LLM_WRITE_PROMPT,
            WritePromptRequest(text=words),
            WritePromptReply,
            self._write_timeout,
        )

    async def translate(self, text: str) -> TranslateReply:
        return await call(
            self._nc,
            subjects.LLM_TRANSLATE,
            TranslateRequest(text=text),
            TranslateReply,
            self._translate_timeout,
        )
