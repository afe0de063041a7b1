"""Runtime knobs of the emulator; every duration is a setting so tests can shrink time."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class InvalidInputMode(StrEnum):
    """How bad model input is answered; the real API's choice is UNCONFIRMED (wavespeed.md §11)."""

    HTTP_400 = "http_400"
    FAILED_TASK = "failed_task"


class EmulatorConfig(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    created_seconds: float = Field(
        default=0.0, ge=0, description="least time a task stays `created` even with a free slot"
    )
    processing_seconds: float = Field(default=1.0, ge=0, description="time a task spends running")
    sync_timeout_seconds: float = Field(
        default=90.0, ge=0, description="sync submits answer 5004 after this long"
    )
    rate_window_seconds: float = Field(
        default=60.0, gt=0, description="window the per-minute start limit counts over"
    )
    retry_after_header: bool = Field(
        default=False, description="send Retry-After on rate-limit 429s (real header UNCONFIRMED)"
    )
    history_inputs: bool = Field(
        default=True,
        description="the prediction list honours `include_inputs` (sent by WaveSpeed's CLI, not in "
        "the docs); False lists tasks without their inputs, as a server ignoring the flag would",
    )
    invalid_input: InvalidInputMode = InvalidInputMode.HTTP_400
    balance_usd: float = Field(
        default=100.0, ge=0, description="what `GET /api/v3/balance` reports for every account"
    )
    max_upload_bytes: int = Field(default=32 * 1024 * 1024, ge=1, description="larger uploads: 413")
    public_url: str | None = Field(
        default=None, description="base of URLs handed out; default: the URL the client called"
    )

    def patched(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A validated copy with `changes` applied; unknown keys are an error."""
        return EmulatorConfig.model_validate({**self.model_dump(), **changes})
