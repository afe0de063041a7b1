"""Bodies of the ``/_emu`` control endpoints, shared by the routes and the httpx client."""

from __future__ import annotations

from pydantic import BaseModel, Field

from medialab_sandbox.fal.images import ImageFormat
from medialab_sandbox.fal.llm import ScriptedReply
from medialab_sandbox.fal.recorder import KeyConcurrency


class LatencySetting(BaseModel):
    queue_seconds: float = Field(default=0.0, ge=0)
    run_seconds: float = Field(default=0.0, ge=0)
    model: str | None = None


class ConcurrencyLimit(BaseModel):
    key: str
    limit: int | None = Field(default=None, ge=1)


class AccountSetting(BaseModel):
    name: str
    keys: list[str]
    limit: int | None = Field(default=None, ge=1)


class KeyLock(BaseModel):
    key: str
    reason: str | None = None  # None unlocks


class UpscaleFormat(BaseModel):
    format: ImageFormat | None = None


class SafetyVerdict(BaseModel):
    flagged: bool = False


class OutputGrain(BaseModel):
    grainy: bool = False


class LlmScriptItems(BaseModel):
    items: list[ScriptedReply]


class Stats(BaseModel):
    by_model: dict[str, int]
    by_key: dict[str, int]
    concurrency: dict[str, KeyConcurrency]
    status_polls: dict[str, int] = Field(default_factory=dict)  # request id → status calls
