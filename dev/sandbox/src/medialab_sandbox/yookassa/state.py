"""Payments, refunds and remembered Idempotence-Keys, as YooKassa keeps them for one shop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class PaymentStatus(StrEnum):
    PENDING = "pending"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


FINAL = (PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def money(value: Decimal) -> str:
    return f"{value:.2f}"


@dataclass
class Payment:
    id: str
    amount: Decimal
    currency: str
    capture: bool
    return_url: str | None
    description: str | None
    metadata: dict[str, str]
    receipt: dict[str, Any] | None
    test: bool
    status: PaymentStatus = PaymentStatus.PENDING
    created_at: str = field(default_factory=_now)
    captured_at: str | None = None
    cancellation: dict[str, str] | None = None
    refunded: Decimal = Decimal("0")

    def body(self, shop_id: str, confirmation_url: str | None) -> dict[str, Any]:
        """The payment as the API answers it (the snapshot's `response`)."""
        amount = {"value": money(self.amount), "currency": self.currency}
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "amount": amount,
            "recipient": {"account_id": shop_id, "gateway_id": f"{shop_id}-1"},
            "created_at": self.created_at,
            "test": self.test,
            "paid": self.status in (PaymentStatus.WAITING_FOR_CAPTURE, PaymentStatus.SUCCEEDED),
            "refundable": self.status is PaymentStatus.SUCCEEDED and self.refunded < self.amount,
            "metadata": dict(self.metadata),
        }
        if self.description is not None:
            body["description"] = self.description
        if self.status is PaymentStatus.PENDING and confirmation_url is not None:
            confirmation: dict[str, Any] = {"type": "redirect", "confirmation_url": confirmation_url}
            if self.return_url is not None:
                confirmation["return_url"] = self.return_url
            body["confirmation"] = confirmation
        if self.status is PaymentStatus.SUCCEEDED:
            body["captured_at"] = self.captured_at
            body["income_amount"] = {
                "value": money(self.amount * Decimal("0.965")),
                "currency": self.currency,
            }
            body["refunded_amount"] = {"value": money(self.refunded), "currency": self.currency}
            body["payment_method"] = {
                "type": "bank_card",
                "id": self.id,
                "saved": False,
                "title": "Bank card",
            }
        if self.receipt is not None and self.status is PaymentStatus.SUCCEEDED:
            body["receipt_registration"] = "succeeded"
        if self.cancellation is not None:
            body["cancellation_details"] = dict(self.cancellation)
        return body


@dataclass
class Refund:
    id: str
    payment_id: str
    amount: Decimal
    currency: str
    description: str | None
    created_at: str = field(default_factory=_now)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "payment_id": self.payment_id,
            "status": "succeeded",
            "created_at": self.created_at,
            "amount": {"value": money(self.amount), "currency": self.currency},
        }
        if self.description is not None:
            body["description"] = self.description
        return body


@dataclass(frozen=True)
class Remembered:
    """The first answer to an Idempotence-Key: repeats of the same request get it again."""

    path: str
    request: dict[str, Any]
    status: int
    answer: dict[str, Any]


class PaymentView(BaseModel):
    id: str
    status: PaymentStatus
    amount: str
    metadata: dict[str, str]
    refunded: str
    receipt: dict[str, Any] | None


def new_id() -> str:
    return str(uuid.uuid4())


def view(payment: Payment) -> PaymentView:
    return PaymentView(
        id=payment.id,
        status=payment.status,
        amount=money(payment.amount),
        metadata=payment.metadata,
        refunded=money(payment.refunded),
        receipt=payment.receipt,
    )
