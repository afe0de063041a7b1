"""The public API: create and read payments, create refunds — validated against the snapshots."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from decimal import Decimal
from typing import Any, ClassVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from medialab_sandbox.snapshots import snapshot
from medialab_sandbox.yookassa.deps import Emulator
from medialab_sandbox.yookassa.emulator import YooKassaBackend
from medialab_sandbox.yookassa.faults import Target
from medialab_sandbox.yookassa.state import PaymentStatus, Remembered

MAX_KEY_LENGTH = 64


class ApiError(Exception):
    """YooKassa's error answer: `{type: error, id, code, description, parameter}`."""

    _CODES: ClassVar[dict[int, str]] = {
        400: "invalid_request",
        401: "invalid_credentials",
        403: "forbidden",
        404: "not_found",
        405: "invalid_request",
        415: "invalid_request",
        429: "too_many_requests",
    }

    def __init__(self, status: int, description: str, parameter: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.body: dict[str, Any] = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self._CODES.get(status, "internal_server_error"),
            "description": description,
        }
        if parameter is not None:
            self.body["parameter"] = parameter

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, self.status)


api_router = APIRouter(prefix="/v3")


@api_router.post("/payments")
async def create_payment(emu: Emulator, request: Request) -> Response:
    _authenticate(emu, request)
    key = _idempotence_key(request)
    body = await _json(request)
    return _once(emu, key, "/v3/payments", body, Target.CREATE, lambda: _create(emu, request, body))


@api_router.get("/payments/{payment_id}")
async def get_payment(emu: Emulator, payment_id: str, request: Request) -> Response:
    _authenticate(emu, request)
    emu.records.gets += 1
    fault = emu.faults.next_http(Target.GET)
    if fault is not None:
        raise ApiError(fault.status, "Injected fault")
    payment = emu.payments.get(payment_id)
    if payment is None:
        raise ApiError(404, "Payment not found or forbidden", "payment_id")
    return JSONResponse(emu.payment_body(payment, _base(emu, request)))


@api_router.post("/refunds")
async def create_refund(emu: Emulator, request: Request) -> Response:
    _authenticate(emu, request)
    key = _idempotence_key(request)
    body = await _json(request)
    return _once(emu, key, "/v3/refunds", body, Target.REFUND, lambda: _refund(emu, body))


def _once(
    emu: YooKassaBackend,
    key: str,
    path: str,
    body: dict[str, Any],
    target: Target,
    make: Any,
) -> Response:
    """Answer a POST once per Idempotence-Key: a repeat gets the first answer, another body a 400."""
    fault = emu.faults.next_http(target)
    if fault is not None and not fault.after_create:
        raise ApiError(fault.status, "Injected fault")
    remembered = emu.idempotence.get(key)
    if remembered is not None:
        if (remembered.path, remembered.request) != (path, body):
            raise ApiError(
                400, "Idempotence key duplicated: a request with other data used it", "Idempotence-Key"
            )
        emu.records.replays += 1
        answer: Response = JSONResponse(remembered.answer, remembered.status)
    else:
        made: dict[str, Any] = make()
        emu.idempotence[key] = Remembered(path=path, request=body, status=200, answer=made)
        answer = JSONResponse(made)
    if fault is not None:
        raise ApiError(fault.status, "Injected fault after the object was made")
    return answer


def _create(emu: YooKassaBackend, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    _check_schema("yookassa create payment", body)
    amount = _amount(body["amount"], "amount")
    confirmation = body.get("confirmation")
    if confirmation is None or confirmation["type"] != "redirect":
        raise ApiError(400, "The emulator confirms payments by redirect only", "confirmation.type")
    receipt = body.get("receipt")
    if receipt is None and emu.config.receipts_required:
        raise ApiError(400, "Receipt is missing or illegal: the shop sends receipts (54-FZ)", "receipt")
    if receipt is not None:
        _check_receipt(receipt, amount, body["amount"]["currency"])
    payment = emu.create_payment(
        amount=amount,
        currency=body["amount"]["currency"],
        capture=bool(body.get("capture", False)),
        return_url=confirmation.get("return_url"),
        description=body.get("description"),
        metadata=body.get("metadata", {}),
        receipt=receipt,
    )
    return emu.payment_body(payment, _base(emu, request))


def _refund(emu: YooKassaBackend, body: dict[str, Any]) -> dict[str, Any]:
    _check_schema("yookassa create refund", body)
    payment = emu.payments.get(body["payment_id"])
    if payment is None:
        raise ApiError(404, "Payment not found or forbidden", "payment_id")
    amount = _amount(body["amount"], "amount")
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise ApiError(
            400, f"Payment is {payment.status.value}: only a succeeded payment is refunded", "payment_id"
        )
    if body["amount"]["currency"] != payment.currency:
        raise ApiError(400, "Refund currency differs from the payment's", "amount.currency")
    if payment.refunded + amount > payment.amount:
        raise ApiError(400, "Refund amount exceeds what is left of the payment", "amount.value")
    return emu.refund(payment, amount, body.get("description")).body()


def _check_schema(endpoint: str, body: dict[str, Any]) -> None:
    errors = snapshot(endpoint).request_errors(body)
    if errors:
        where, _, what = errors[0].partition(": ")
        raise ApiError(400, f"Invalid parameter: {what}", where.replace("/", "."))


def _check_receipt(receipt: dict[str, Any], amount: Decimal, currency: str) -> None:
    customer = receipt.get("customer", {})
    if not (customer.get("email") or customer.get("phone") or receipt.get("email") or receipt.get("phone")):
        raise ApiError(400, "Receipt needs the customer's email or phone", "receipt.customer")
    total = Decimal("0")
    for index, item in enumerate(receipt["items"]):
        where = f"receipt.items[{index}]"
        if item["amount"]["currency"] != currency:
            raise ApiError(
                400, "Receipt item currency differs from the payment's", f"{where}.amount.currency"
            )
        total += _amount(item["amount"], f"{where}.amount") * Decimal(str(item["quantity"]))
    if total.quantize(Decimal("0.01")) != amount:
        raise ApiError(400, f"Receipt items sum to {total:.2f}, the payment is {amount:.2f}", "receipt.items")


def _amount(amount: dict[str, Any], parameter: str) -> Decimal:
    value = Decimal(amount["value"])
    if value <= 0:
        raise ApiError(400, "Amount must be positive", f"{parameter}.value")
    return value


def _authenticate(emu: YooKassaBackend, request: Request) -> None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        shop_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        shop_id = secret = ""
    if scheme.lower() != "basic" or (shop_id, secret) != (emu.config.shop_id, emu.config.secret_key):
        emu.records.unauthorized += 1
        raise ApiError(401, "Login or password is incorrect (shopId:secretKey in Basic auth)")


def _idempotence_key(request: Request) -> str:
    key = request.headers.get("idempotence-key", "")
    if not key:
        raise ApiError(400, "Idempotence key header is missing", "Idempotence-Key")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, f"Idempotence key is longer than {MAX_KEY_LENGTH} characters", "Idempotence-Key")
    return key


async def _json(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise ApiError(400, "Content-Type must be application/json")
    try:
        body = json.loads(await request.body())
    except ValueError as error:
        raise ApiError(400, f"Request body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _base(emu: YooKassaBackend, request: Request) -> str:
    return (emu.config.public_url or str(request.base_url)).rstrip("/")
