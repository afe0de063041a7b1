"""Runtime knobs of the YooKassa emulator; every delay is a setting so tests can shrink time."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EmulatorConfig(BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    shop_id: str = Field(default="100500", min_length=1)
    secret_key: str = Field(default="test_sandbox-secret", min_length=1)
    receipts_required: bool = Field(
        default=True,
        description="the shop sends 54-FZ receipts through YooKassa: a payment without `receipt` is a 400",
    )
    webhook_url: str | None = Field(
        default=None, description="where notifications go (the shop's HTTP-notification URL); None: nowhere"
    )
    webhook_attempts: int = Field(
        default=5, ge=1, le=100, description="deliveries of one notification until an HTTP 200 (real: 24 h)"
    )
    webhook_retry_s: float = Field(default=0.2, ge=0, description="pause between delivery attempts")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    public_url: str | None = Field(
        default=None, description="base of confirmation URLs handed out; default: the URL the client called"
    )

    def patched(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A validated copy with `changes` applied; unknown keys are an error."""
        return EmulatorConfig.model_validate({**self.model_dump(), **changes})


# Where the payment pages a confirmation_url points at are served.
CHECKOUT_PREFIX = "/checkout"
