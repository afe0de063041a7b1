"""Configuration of prompt-llm, read from the environment (``LLM_MODEL``, ``LLM_CALL_TIMEOUT_S``, …)."""

from __future__ import annotations

from medialab_contracts.catalog import LLM_MODEL_DEFAULT
from medialab_runtime.runner import JobServiceSettings
from pydantic import Field, model_validator


class PromptLlmSettings(JobServiceSettings):
    # M2 jobs mostly wait for the LLM (and its provider slots), so many can run at once.
    consumer_concurrency: int = Field(default=16, ge=1)
    max_deliver: int = Field(default=3, ge=1)

    # The OpenRouter model fal's LLM endpoint runs (a free string, e.g. "google/gemini-2.5-flash",
    # "anthropic/claude-sonnet-4.5"); env LLM_MODEL.
    llm_model: str = Field(default=LLM_MODEL_DEFAULT, min_length=3, max_length=100)
    # Budget fal-runner gets for one raw call, waiting for a provider slot included.
    llm_call_timeout_s: float = Field(default=60.0, gt=0, le=600)
    # Budget of a whole operation, the repair call included; a caller of llm.* should wait
    # operation_timeout_s + llm_reply_margin_s for the answer.
    operation_timeout_s: float = Field(default=100.0, gt=0, le=1200)
    # A repair is not started with less time than this left; the answer then counts as bad.
    min_repair_budget_s: float = Field(default=5.0, ge=0)
    # Extra time we wait for fal-runner's reply beyond a call's budget (NATS hop, its own cleanup).
    llm_reply_margin_s: float = Field(default=5.0, ge=0, le=120)

    # M2: the seed promises at least 1000 characters; the upper bound keeps the prompt usable as an
    # M1 prompt (4000 chars) and inside one Telegram message (4096) with room for our wording.
    min_prompt_chars: int = Field(default=1000, ge=1, le=3000)
    max_prompt_chars: int = Field(default=3500, ge=100, le=4000)
    min_cyrillic_share: float = Field(default=0.85, ge=0, le=1)
    min_latin_share: float = Field(default=0.9, ge=0, le=1)

    write_prompt_temperature: float = Field(default=0.7, ge=0, le=2)
    write_prompt_max_tokens: int = Field(default=3000, ge=100, le=16_000)
    translate_max_tokens: int = Field(default=3000, ge=50, le=16_000)
    parse_style_max_tokens: int = Field(default=600, ge=50, le=16_000)

    cache_enabled: bool = True

    @model_validator(mode="after")
    def _bounds_in_order(self) -> PromptLlmSettings:
        if self.min_prompt_chars >= self.max_prompt_chars:
            raise ValueError("min_prompt_chars must be below max_prompt_chars")
        return self
