"""The confirmation page a payment's `confirmation_url` points to: the user pays or gives up here.

`GET /checkout/{id}` shows the payment with two buttons; `POST /checkout/{id}?action=pay|cancel`
is what they send (tests and the chat client call it directly).
"""

from __future__ import annotations

import html
from enum import StrEnum

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from medialab_sandbox.yookassa.config import CHECKOUT_PREFIX
from medialab_sandbox.yookassa.deps import Emulator
from medialab_sandbox.yookassa.state import PaymentStatus, money


class Action(StrEnum):
    PAY = "pay"
    CANCEL = "cancel"


checkout_router = APIRouter(prefix=CHECKOUT_PREFIX)


@checkout_router.get("/{payment_id}", response_class=HTMLResponse)
async def page(emu: Emulator, payment_id: str) -> HTMLResponse:
    payment = emu.payments.get(payment_id)
    if payment is None:
        return HTMLResponse("<h1>Платёж не найден</h1>", 404)
    title = html.escape(payment.description or "Оплата")
    if payment.status is not PaymentStatus.PENDING:
        return HTMLResponse(f"<h1>{title}</h1><p>Статус: {payment.status.value}</p>")
    return HTMLResponse(
        f"<h1>{title}</h1><p>{money(payment.amount)} {payment.currency}</p>"
        f'<form method="post" action="?action=pay"><button>Оплатить картой или СБП</button></form>'
        f'<form method="post" action="?action=cancel"><button>Отказаться</button></form>'
    )


@checkout_router.post("/{payment_id}", response_model=None)
async def act(
    emu: Emulator, payment_id: str, action: Action, request: Request
) -> JSONResponse | HTMLResponse:
    # A browser (the form above) gets a page; tests and scripts get JSON.
    browser = "text/html" in request.headers.get("accept", "")
    payment = emu.payments.get(payment_id)
    if payment is None:
        return _answer(browser, 404, {"error": "payment not found"}, "Платёж не найден")
    if payment.status is not PaymentStatus.PENDING:
        status = payment.status.value
        return _answer(browser, 409, {"error": f"payment is {status}"}, f"Платёж уже {status}")
    if action is Action.PAY:
        emu.pay(payment_id)
    else:
        emu.cancel(payment_id, party="yoo_kassa", reason="expired_on_confirmation")
    status = emu.payments[payment_id].status.value
    done = "Оплачено" if action is Action.PAY else "Оплата отменена"
    return _answer(browser, 200, {"id": payment_id, "status": status}, f"{done}. Вернитесь в Telegram.")


def _answer(browser: bool, status: int, data: dict[str, str], text: str) -> JSONResponse | HTMLResponse:
    if browser:
        return HTMLResponse(f"<h1>{html.escape(text)}</h1>", status)
    return JSONResponse(data, status)
