"""YooKassa API v3, the three calls MediaLab makes: create a payment, read one, refund one.

Every POST carries an Idempotence-Key chosen by the caller and the same key on each retry, so a
retry after a lost answer (a 500, a timeout) gets the first result instead of a second payment.
A 5xx, a 429, a 202 "still processing" and network errors are retried with backoff; any other 4xx
is the answer. Credentials travel only in the Basic auth header; nothing here logs them, a body or
a URL with them.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any, Literal

import httpx
from medialab_contracts.payments import YOOKASSA_PAYMENT_ID_PATTERN
from medialab_runtime.jobs import retry_delay
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payments.settings import PaymentsSettings

log = logging.getLogger(__name__)

_RETRYABLE = frozenset({202, 429, 500, 502, 503, 504})


class YooKassaError(Exception):
    """YooKassa refused the call (a 4xx): ``code``/``parameter`` say why (never a secret)."""

    def __init__(self, status: int, code: str, description: str, parameter: str | None) -> None:
        super().__init__(f"YooKassa {status} {code}: {description} ({parameter or '-'})")
        self.status = status
        self.code = code
        self.parameter = parameter


class YooKassaUnavailable(Exception):
    """YooKassa did not answer usably within the attempts (5xx, 429, network)."""


class Amount(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: Decimal
    currency: str

    @property
    def kopecks(self) -> int:
        """Exact kopecks; a fraction of a kopeck is not an amount YooKassa gives."""
        cents = self.value * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"amount {self.value} has fractions of a kopeck")
        return int(cents)

    @classmethod
    def rub(cls, kopecks: int) -> dict[str, str]:
        return {"value": f"{kopecks // 100}.{kopecks % 100:02d}", "currency": "RUB"}


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    confirmation_url: str | None = None


class YooPayment(BaseModel):
    """The fields of a payment MediaLab reads (the snapshot holds the rest)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)
    status: Literal["pending", "waiting_for_capture", "succeeded", "canceled"]
    paid: bool
    amount: Amount
    metadata: dict[str, str] = Field(default_factory=dict)
    confirmation: Confirmation | None = None


class YooRefund(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    payment_id: str
    status: Literal["pending", "succeeded", "canceled"]
    amount: Amount


class YooKassaClient:
    def __init__(self, settings: PaymentsSettings) -> None:
        self._attempts = settings.yookassa_attempts
        self._base_s = settings.yookassa_retry_base_s
        self._http = httpx.AsyncClient(
            base_url=settings.yookassa_api_base.rstrip("/") + "/v3",
            auth=httpx.BasicAuth(
                settings.yookassa_shop_id.get_secret_value(), settings.yookassa_secret_key.get_secret_value()
            ),
            timeout=settings.yookassa_timeout_s,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_payment(self, body: dict[str, Any], idempotence_key: str) -> YooPayment:
        return YooPayment.model_validate(await self._call("POST", "/payments", body, idempotence_key))

    async def get_payment(self, payment_id: str) -> YooPayment | None:
        """The payment as YooKassa has it now; None if YooKassa does not know it (404)."""
        try:
            return YooPayment.model_validate(await self._call("GET", f"/payments/{payment_id}"))
        except YooKassaError as error:
            if error.status == 404:
                return None
            raise

    async def create_refund(self, payment_id: str, kopecks: int, idempotence_key: str) -> YooRefund:
        body = {"payment_id": payment_id, "amount": Amount.rub(kopecks)}
        return YooRefund.model_validate(await self._call("POST", "/refunds", body, idempotence_key))

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotence-Key": key} if key is not None else {}
        last = "no attempt"
        for attempt in range(1, self._attempts + 1):
            retry_after = 0.0
            try:
                response = await self._http.request(method, path, json=body, headers=headers)
            except httpx.HTTPError as error:
                last = type(error).__name__
            else:
                if response.status_code == 200:
                    return _json(response)
                if response.status_code not in _RETRYABLE:
                    raise _refusal(response)
                last = f"HTTP {response.status_code}"
                retry_after = _retry_after_s(response)
            if attempt < self._attempts:
                delay = max(retry_delay(attempt, self._base_s, self._base_s * 16), retry_after)
                log.info("YooKassa %s %s: %s; retry %d in %.1fs", method, path, last, attempt, delay)
                await asyncio.sleep(delay)
        raise YooKassaUnavailable(f"YooKassa {method} {path}: {last} after {self._attempts} attempts")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as error:
        raise YooKassaUnavailable(f"YooKassa answered {response.status_code} without JSON") from error
    if not isinstance(data, dict):
        raise YooKassaUnavailable("YooKassa answered something other than an object")
    return data


def _retry_after_s(response: httpx.Response) -> float:
    # YooKassa's 202 "processing" body says when to ask again, in milliseconds.
    try:
        return float(response.json().get("retry_after", 0)) / 1000
    except (ValueError, AttributeError):
        return 0.0


class _ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = "unknown"
    description: str = ""
    parameter: str | None = None


def _refusal(response: httpx.Response) -> YooKassaError:
    try:
        error = _ErrorBody.model_validate_json(response.content)
    except ValidationError:
        error = _ErrorBody()
    return YooKassaError(response.status_code, error.code, error.description[:200], error.parameter)
