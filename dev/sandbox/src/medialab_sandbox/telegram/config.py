"""Emulator settings; the defaults are Telegram's own limits."""

from __future__ import annotations

from pydantic import BaseModel, Field

MB = 1024 * 1024

# Fixed by Telegram, not configurable: clients are written against these numbers.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_MEDIA_GROUP = 10
MIN_MEDIA_GROUP = 2
# Telegram Stars invoices: one price, in whole Stars.
STARS_CURRENCY = "XTR"
MAX_STARS_PER_INVOICE = 10_000


class RateLimitConfig(BaseModel):
    """Token buckets per bot. Telegram documents ~1 msg/s per chat (short bursts allowed),
    ~30 msg/s overall and 20 msg/min per group."""

    enabled: bool = True
    per_chat_per_second: float = Field(default=1.0, gt=0)
    per_chat_burst: int = Field(default=3, ge=1)
    global_per_second: float = Field(default=30.0, gt=0)
    global_burst: int = Field(default=30, ge=1)
    group_per_minute: float = Field(default=20.0, gt=0)
    group_burst: int = Field(default=20, ge=1)


class FileLimits(BaseModel):
    """Sizes in bytes; configurable so tests can exercise them without huge uploads."""

    max_photo_upload: int = Field(default=10 * MB, ge=1)
    max_document_upload: int = Field(default=50 * MB, ge=1)
    max_download: int = Field(default=20 * MB, ge=1)


class WebhookConfig(BaseModel):
    retry_initial_delay: float = Field(default=0.5, gt=0)
    retry_max_delay: float = Field(default=30.0, gt=0)
    request_timeout: float = Field(default=10.0, gt=0)


class EmulatorConfig(BaseModel):
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    files: FileLimits = Field(default_factory=FileLimits)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    max_long_poll_seconds: float = Field(default=50.0, gt=0)
    # A checkout the bot does not answer within this long is cancelled (Telegram: 10 s).
    pre_checkout_timeout_s: float = Field(default=10.0, gt=0)
