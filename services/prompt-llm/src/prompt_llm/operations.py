"""The three operations: ``llm.write_prompt`` (M2), ``llm.translate`` (Seedream), ``llm.parse_style`` (M5)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from medialab_contracts.errors import BadRequest, LlmBadOutput, MediaLabError
from medialab_contracts.llm import (
    ParseStyleReply,
    ParseStyleRequest,
    TranslateReply,
    TranslateRequest,
    WritePromptReply,
    WritePromptRequest,
)
from medialab_runtime.logs import job_context
from pydantic import ValidationError

from prompt_llm.answers import (
    PromptRules,
    is_english,
    partial_style,
    read_style,
    read_translation,
    read_written_prompt,
)
from prompt_llm.cache import CachedStyle, CachedTranslation, LlmCache, cache_key
from prompt_llm.llm_client import LlmClient
from prompt_llm.metrics import PROMPT_INFO, observed
from prompt_llm.prompt_files import PromptFile, load_prompt
from prompt_llm.repair import Asker, StillBad, Task
from prompt_llm.settings import PromptLlmSettings

log = logging.getLogger(__name__)

WRITE_PROMPT = "write_prompt"
TRANSLATE = "translate"
PARSE_STYLE = "parse_style"


@dataclass(frozen=True)
class Prompts:
    write_prompt: PromptFile
    translate: PromptFile
    parse_style: PromptFile
    repair: PromptFile

    @classmethod
    def load(cls) -> Prompts:
        return cls(
            write_prompt=load_prompt(WRITE_PROMPT),
            translate=load_prompt(TRANSLATE),
            parse_style=load_prompt(PARSE_STYLE),
            repair=load_prompt("repair"),
        )

    def announce(self) -> None:
        """Log and export which prompt files answer, so an answer can be traced to its wording."""
        for prompt in (self.write_prompt, self.translate, self.parse_style, self.repair):
            PROMPT_INFO.labels(prompt.name, str(prompt.version), prompt.digest).set(1)
            log.info("prompt %s loaded (sha256 %s)", prompt.tag, prompt.digest)


def _required(text: str, what: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise BadRequest(f"empty {what}")
    return stripped


class PromptLlm:
    def __init__(
        self, llm: LlmClient, cache: LlmCache | None, settings: PromptLlmSettings, prompts: Prompts
    ) -> None:
        self._llm = llm
        self._cache = cache
        self._settings = settings
        self._prompts = prompts
        self._asker = Asker(llm, prompts.repair, settings.llm_call_timeout_s, settings.min_repair_budget_s)
        self._rules = PromptRules(
            min_chars=settings.min_prompt_chars,
            max_chars=settings.max_prompt_chars,
            min_cyrillic_share=settings.min_cyrillic_share,
        )
        self._write_task = Task(
            WRITE_PROMPT,
            prompts.write_prompt,
            settings.write_prompt_temperature,
            settings.write_prompt_max_tokens,
        )
        # Translation and parsing want the one most likely answer, not variety.
        self._translate_task = Task(TRANSLATE, prompts.translate, 0.0, settings.translate_max_tokens)
        self._style_task = Task(PARSE_STYLE, prompts.parse_style, 0.0, settings.parse_style_max_tokens)

    async def write_prompt(self, request: WritePromptRequest) -> WritePromptReply:
        deadline = self._deadline()
        with observed(WRITE_PROMPT) as outcome, job_context(None, request.trace_id):
            text = _required(request.text, "text")
            read = partial(read_written_prompt, rules=self._rules)
            try:
                answer = await self._asker.ask(self._write_task, text, read, request.trace_id, deadline)
            except StillBad as bad:
                raise LlmBadOutput(f"no usable prompt after one repair: {bad.complaint}") from None
            outcome.value = "repaired" if answer.repaired else "ok"
            return WritePromptReply(trace_id=request.trace_id, prompt=answer.value, repaired=answer.repaired)

    async def translate(self, request: TranslateRequest) -> TranslateReply:
        deadline = self._deadline()
        with observed(TRANSLATE) as outcome, job_context(None, request.trace_id):
            text = _required(request.text, "text")
            if is_english(text, self._settings.min_latin_share):
                outcome.value = "passthrough"
                return TranslateReply(trace_id=request.trace_id, text=request.text, translated=False)
            key = cache_key(TRANSLATE, self._prompts.translate, self._llm.model, text)
            if self._cache is not None:
                hit = await self._cache.get(TRANSLATE, key, CachedTranslation)
                if hit is not None:
                    outcome.value = "cached"
                    return TranslateReply(
                        trace_id=request.trace_id, text=hit.text, translated=True, cached=True
                    )
            read = partial(read_translation, source=text, min_latin_share=self._settings.min_latin_share)
            try:
                answer = await self._asker.ask(self._translate_task, text, read, request.trace_id, deadline)
            except StillBad as bad:
                raise LlmBadOutput(f"no usable translation after one repair: {bad.complaint}") from None
            if self._cache is not None:
                await self._cache.put(key, CachedTranslation(text=answer.value))
            outcome.value = "repaired" if answer.repaired else "ok"
            return TranslateReply(trace_id=request.trace_id, text=answer.value, translated=True)

    async def parse_style(self, request: ParseStyleRequest) -> ParseStyleReply:
        """Never fails on the LLM's account: any trouble answers ``fallback=True`` and the caller
        parses the wish with its own rules."""
        deadline = self._deadline()
        with observed(PARSE_STYLE) as outcome, job_context(None, request.trace_id):
            wish = _required(request.wish, "wish")
            key = cache_key(PARSE_STYLE, self._prompts.parse_style, self._llm.model, wish)
            if self._cache is not None:
                hit = await self._cache.get(PARSE_STYLE, key, CachedStyle)
                style = self._still_valid(hit)
                if style is not None:
                    outcome.value = "cached"
                    return ParseStyleReply(trace_id=request.trace_id, style=style, cached=True)
            try:
                answer = await self._asker.ask(self._style_task, wish, read_style, request.trace_id, deadline)
            except StillBad:
                outcome.value = "fallback"
                return ParseStyleReply(trace_id=request.trace_id, fallback=True)
            except MediaLabError as error:
                outcome.value = "fallback"
                log.warning("parse_style falls back after %s", error.code.value)
                return ParseStyleReply(trace_id=request.trace_id, fallback=True)
            if self._cache is not None:
                await self._cache.put(key, CachedStyle(style=answer.value))
            outcome.value = "repaired" if answer.repaired else "ok"
            return ParseStyleReply(trace_id=request.trace_id, style=answer.value)

    def _deadline(self) -> float:
        return time.monotonic() + self._settings.operation_timeout_s

    @staticmethod
    def _still_valid(hit: CachedStyle | None) -> dict[str, Any] | None:
        """A cached style written before a ``TextStyle`` change may no longer validate: a miss."""
        if hit is None:
            return None
        try:
            return partial_style(hit.style)
        except ValidationError:
            return None
