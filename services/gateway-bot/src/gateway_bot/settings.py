"""Settings of the gateway, read once from the environment in ``main()``."""

from __future__ import annotations

from typing import Annotated

from medialab_runtime.settings import AdminIds, ServiceSettings
from pydantic import Field, SecretStr, field_validator, model_validator

MB = 1024 * 1024


class GatewaySettings(ServiceSettings):
    tg_bot_token: SecretStr
    telegram_api_base: str = "https://api.telegram.org"
    # "1,2" or "[1, 2]"
    admin_ids: AdminIds = frozenset()
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=0, le=65535)
    # Price overrides in kopecks by catalog model key, e.g. {"nbp": 3000}.
    prices: dict[str, int] = Field(default_factory=dict)

    # Per-user quota (issue 17 item 4): images taken in per clock hour, refused ones included.
    uploads_per_hour: int = Field(default=30, ge=1)
    # ... and their bytes (Telegram's file_size, before the download): 30 files of 20 MB from a few
    # users would fill the shared ``uploads`` bucket (UPLOADS_MAX_BYTES) and block everyone's uploads.
    upload_bytes_per_hour: int = Field(default=200 * MB, ge=MB)
    max_retouch_bytes: int = Field(default=10 * MB, ge=1)
    # text-render's own input limits: checked when the photo arrives, before the user types the text.
    max_text_image_bytes: int = Field(default=10 * MB, ge=1)
    max_text_image_pixels: int = Field(default=40_000_000, ge=1)
    # Telegram's limit for a document the bot uploads; larger results go as JPEG or downscaled.
    max_document_bytes: int = Field(default=50 * MB, ge=1024)
    preview_min_bytes: int = Field(default=1 * MB, ge=0)
    preview_max_side: int = Field(default=1280, ge=64)
    album_debounce_s: float = Field(default=1.0, gt=0)
    inputs_wait_s: float = Field(default=20.0, gt=0)
    progress_interval_s: float = Field(default=2.0, ge=0)
    progress_interval_group_s: float = Field(default=6.0, ge=0)
    history_page_size: int = Field(default=5, ge=1, le=50)
    # Entries per page of «🖼 Мои работы»: each has four buttons, and a keyboard holds at most 100.
    works_page_size: int = Field(default=3, ge=1, le=20)
    # The top-up amounts offered as buttons, whole rubles; billing prices each in Stars and checks its
    # own limits (STARS_MIN_TOPUP..STARS_MAX_TOPUP).
    topup_packs_rub: list[Annotated[int, Field(gt=0, le=1_000_000)]] = Field(
        default_factory=lambda: [100, 300, 1000], min_length=1, max_length=8
    )
    # A top-up typed by the user (or offered for a shortfall), whole rubles; keep within billing's
    # STARS_MIN_TOPUP..STARS_MAX_TOPUP (billing refuses anything else).
    topup_min_rub: int = Field(default=50, ge=1, le=1_000_000)
    topup_max_rub: int = Field(default=10_000, ge=1, le=1_000_000)
    # The referral bonus /invite promises, whole rubles: billing's REFERRAL_BONUS / 100 (billing pays
    # its own); 0 hides /invite.
    referral_bonus_rub: int = Field(default=0, ge=0, le=1_000_000)
    billing_timeout_s: float = Field(default=5.0, gt=0)
    # «💳 Картой или СБП (ЮKassa)» beside Stars: on when the payments service runs with YooKassa keys.
    yookassa_enabled: bool = False
    # A payment link asks billing and YooKassa (with retries): longer than a billing call.
    payments_timeout_s: float = Field(default=30.0, gt=0)
    translate_timeout_s: float = Field(default=60.0, gt=0)

    # Outbound Telegram limits, a little under Telegram's own (~30/s, 1/s per chat, 20/min per group).
    tg_global_per_s: float = Field(default=25.0, gt=0)
    tg_global_burst: int = Field(default=20, ge=1)
    tg_chat_per_s: float = Field(default=1.0, gt=0)
    tg_chat_burst: int = Field(default=2, ge=1)
    tg_group_per_min: float = Field(default=19.0, gt=0)
    tg_group_burst: int = Field(default=3, ge=1)
    tg_max_retries: int = Field(default=5, ge=0)
    # Incoming updates per user: a burst (an album of 10 photos is 10 updates), then a steady rate.
    inbound_burst: int = Field(default=30, ge=1)
    inbound_per_s: float = Field(default=1.0, gt=0)

    delivery_concurrency: int = Field(default=32, ge=1)
    delivery_ack_wait_s: float = Field(default=60.0, gt=0)
    # Attempts at delivering a final event (the delivery consumer's max_deliver); a charged result still
    # undelivered at the last one is refunded. Read from the consumer itself when it exists already.
    delivery_max_deliver: int = Field(default=30, ge=1)

    @field_validator("topup_packs_rub")
    @classmethod
    def _sorted_packs(cls, value: list[int]) -> list[int]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _packs_within_limits(self) -> GatewaySettings:
        if (
            not self.topup_min_rub
            <= self.topup_packs_rub[0]
            <= self.topup_packs_rub[-1]
            <= self.topup_max_rub
        ):
            raise ValueError("TOPUP_PACKS_RUB must lie within TOPUP_MIN_RUB..TOPUP_MAX_RUB")
        return self

    @model_validator(mode="after")
    def _one_file_fits_the_hour(self) -> GatewaySettings:
        if self.upload_bytes_per_hour < self.max_image_bytes:
            raise ValueError(
                "UPLOAD_BYTES_PER_HOUR must be at least MAX_IMAGE_BYTES: a file within the size limit "
                "would otherwise never fit in an hour's quota"
            )
        return self

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> GatewaySettings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        return self
