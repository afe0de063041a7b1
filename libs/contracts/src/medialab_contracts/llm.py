"""Request-reply messages of prompt-llm (``llm.*``) and of fal-runner's raw LLM call (``fal.llm``)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medialab_contracts.base import BusMessage
from medialab_contracts.ids import new_request_id


class FalLlmRequest(BusMessage):
    """One raw call of fal's LLM endpoint (``catalog.LLM_ENDPOINT``); fal-runner holds a provider
    slot for it."""

    request_id: str = Field(default_factory=new_request_id, max_length=64)
    model: str = Field(max_length=100)
    prompt: str = Field(min_length=1, max_length=20_000)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=16_000)
    reasoning: bool = False  # whether the model's reasoning comes back with the answer
    timeout_s: float = Field(default=60, gt=0, le=600)


class LlmUsage(BaseModel):
    """Tokens one call used, as the provider counted them (its ``usage`` object)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class FalLlmReply(BusMessage):
    output: str
    reasoning: str | None = None
    usage: LlmUsage = Field(default_factory=LlmUsage)


class WritePromptRequest(BusMessage):
    text: str = Field(min_length=1, max_length=2000)


class WritePromptReply(BusMessage):
    prompt: str
    repaired: bool = False


class TranslateRequest(BusMessage):
    text: str = Field(min_length=1, max_length=4000)
    target: Literal["en"] = "en"


class TranslateReply(BusMessage):
    text: str
    translated: bool  # False when the text already was in the target language
    cached: bool = False


class ParseStyleRequest(BusMessage):
    wish: str = Field(min_length=1, max_length=1000)


class ParseStyleReply(BusMessage):
    """A partial ``TextStyle`` as a dict; ``fallback`` tells the caller to use its rule-based parse."""

    style: dict[str, Any] = Field(default_factory=dict)
    fallback: bool = False
    cached: bool = False
