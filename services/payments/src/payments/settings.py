"""Settings of the payments service, from the environment (``YOOKASSA_SHOP_ID``, ``YOOKASSA_SECRET_KEY``…)."""

from __future__ import annotations

from typing import Literal

from medialab_runtime.settings import ServiceSettings
from pydantic import Field, SecretStr


class PaymentsSettings(ServiceSettings):
    # YooKassa's shop id and secret key (Basic auth): the two together are the credentials, so neither
    # leaves this process's memory (nor reaches a repr, a log or another service's container).
    yookassa_shop_id: SecretStr = Field(min_length=1)
    yookassa_secret_key: SecretStr
    yookassa_api_base: str = "https://api.yookassa.ru"
    # Where YooKassa sends the user after paying: the bot's t.me link.
    yookassa_return_url: str = Field(default="https://t.me/", pattern=r"^https?://")
    yookassa_timeout_s: float = Field(default=15.0, gt=0)
    # Tries of one API call on a 5xx, a 429, a 202 "processing" or a network error (same Idempotence-Key).
    yookassa_attempts: int = Field(default=4, ge=1, le=20)
    yookassa_retry_base_s: float = Field(default=0.5, gt=0)

    # A call to billing (orders, credits, the reconcile's list).
    billing_timeout_s: float = Field(default=10.0, gt=0)

    # 54-FZ receipt of a top-up: one line, the amount paid. Defaults: an advance for services, no VAT.
    receipts: bool = True  # False only for a shop that does not send receipts through YooKassa
    receipt_description: str = Field(default="Пополнение баланса MediaLab", min_length=1, max_length=128)
    receipt_vat_code: int = Field(default=1, ge=1, le=12)
    receipt_payment_mode: Literal["full_prepayment", "advance", "full_payment"] = "full_prepayment"
    receipt_payment_subject: Literal["service", "payment", "another"] = "service"

    # The HTTP endpoint YooKassa's notifications are sent to (its own port, apart from the health port).
    yookassa_webhook_host: str = "127.0.0.1"
    yookassa_webhook_port: int = Field(default=8088, ge=0, le=65535)
    yookassa_webhook_path: str = Field(default="/yookassa/webhook", pattern=r"^/[A-Za-z0-9/_.-]*$")

    # The reconcile: pending orders whose payment is at least this old are read from YooKassa, a batch
    # every interval, so a payment whose notification was lost is still credited.
    reconcile_interval_s: float = Field(default=60.0, gt=0)
    reconcile_after_s: float = Field(default=30.0, ge=0)
    reconcile_batch: int = Field(default=100, ge=1, le=1000)
