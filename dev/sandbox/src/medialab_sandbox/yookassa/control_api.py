"""`/_emu/...`: knobs, faults and records over HTTP, for tests and launchers in another process."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from medialab_sandbox.yookassa.config import EmulatorConfig
from medialab_sandbox.yookassa.control_models import EmulatorState
from medialab_sandbox.yookassa.deps import Emulator
from medialab_sandbox.yookassa.emulator import YooKassaBackend
from medialab_sandbox.yookassa.faults import Delivery, Target
from medialab_sandbox.yookassa.state import PaymentStatus, PaymentView, view

CONTROL_PREFIX = "/_emu"


class HttpFaultRequest(BaseModel):
    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=1)
    after_create: bool = False


class DeliveryFaultRequest(BaseModel):
    mode: Delivery
    count: int = Field(default=1, ge=1)


class ForgeRequest(BaseModel):
    payment_id: str | None = None  # None: a payment that does not exist
    event: str = "payment.succeeded"


class ReleaseRequest(BaseModel):
    reverse: bool = True


control_router = APIRouter(prefix=CONTROL_PREFIX)


@control_router.get("/state")
async def state(emu: Emulator) -> EmulatorState:
    return emu.state()


@control_router.patch("/config", response_model=None)
async def configure(
    emu: Emulator, changes: Annotated[dict[str, Any], Body()]
) -> EmulatorConfig | JSONResponse:
    try:
        emu.configure(**changes)
    except ValidationError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return emu.config


@control_router.post("/faults/http/{target}")
async def fail(emu: Emulator, target: Target, ask: HttpFaultRequest) -> EmulatorState:
    emu.faults.fail(target, ask.status, ask.count, after_create=ask.after_create)
    return emu.state()


@control_router.post("/faults/deliveries")
async def deliveries(emu: Emulator, ask: DeliveryFaultRequest) -> EmulatorState:
    emu.faults.deliveries(ask.mode, ask.count)
    return emu.state()


@control_router.post("/deliveries/release")
async def release(emu: Emulator, ask: ReleaseRequest) -> EmulatorState:
    emu.notifier.release_held(reverse=ask.reverse)
    return emu.state()


@control_router.post("/deliveries/forge")
async def forge(emu: Emulator, ask: ForgeRequest) -> EmulatorState:
    emu.forge(ask.payment_id, ask.event)
    return emu.state()


@control_router.post("/payments/{payment_id}/pay", response_model=None)
async def pay(emu: Emulator, payment_id: str) -> PaymentView | JSONResponse:
    return _settle(emu, payment_id, PaymentStatus.SUCCEEDED)


@control_router.post("/payments/{payment_id}/cancel", response_model=None)
async def cancel(emu: Emulator, payment_id: str) -> PaymentView | JSONResponse:
    return _settle(emu, payment_id, PaymentStatus.CANCELED)


@control_router.post("/reset")
async def reset(emu: Emulator) -> EmulatorState:
    emu.reset()
    return emu.state()


def _settle(emu: YooKassaBackend, payment_id: str, status: PaymentStatus) -> PaymentView | JSONResponse:
    payment = emu.payments.get(payment_id)
    if payment is None or payment.status is not PaymentStatus.PENDING:
        return JSONResponse({"error": f"payment {payment_id} is unknown or not pending"}, 409)
    if status is PaymentStatus.SUCCEEDED:
        emu.pay(payment_id)
    else:
        emu.cancel(payment_id, party="merchant", reason="canceled_by_merchant")
    return view(emu.payments[payment_id])
