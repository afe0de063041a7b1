"""The HTTP endpoint YooKassa's notifications arrive at.

aiohttp rather than FastAPI: runtime's health port already runs on aiohttp, so the webhook costs no
second HTTP stack (FastAPI, Starlette and uvicorn took ~15 MB per process, see runtime health.py).

A notification is not signed, and its body is never believed: only ``object.id`` is read, and only
for payment events; the payment is then read from YooKassa (``Payments.settle``). The answer is 200
once the payment is booked (or there is nothing to book, or billing refused it for good: a payment
that fits no order is logged for an operator), and 503 while YooKassa or billing cannot be asked,
so YooKassa delivers it again. YooKassa's published sender addresses are not checked: behind a
proxy the peer address is the proxy's, and re-reading the payment makes a forgery harmless.
"""

from __future__ import annotations

import logging
from typing import Literal

from aiohttp import web
from medialab_contracts.errors import Conflict, MediaLabError, UnknownOrder
from medialab_contracts.payments import YOOKASSA_PAYMENT_ID_PATTERN
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payments import metrics
from payments.service import Payments

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a payment object is a few KB


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)


class Notification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["notification"]
    event: str = Field(max_length=64)
    object: _Object


def build_app(payments: Payments, path: str) -> web.Application:
    async def notified(request: web.Request) -> web.Response:
        try:
            note = Notification.model_validate_json(await request.read())
        except ValidationError:
            metrics.NOTIFICATIONS.labels("malformed").inc()
            return web.json_response({"error": "not a YooKassa notification"}, status=400)
        if not note.event.startswith("payment."):
            # refund.succeeded and others: MediaLab's refunds are booked when it asks for them.
            metrics.NOTIFICATIONS.labels("ignored").inc()
            return web.json_response({})
        try:
            outcome = await payments.settle(note.object.id)
        except (Conflict, UnknownOrder) as error:
            # Final: billing refused the payment and logged it for an operator; redelivery cannot help.
            metrics.NOTIFICATIONS.labels("refused").inc()
            log.error(
                "notification %s of %s refused by billing: %s", note.event, note.object.id, error.message
            )
            return web.json_response({})
        except MediaLabError as error:
            metrics.NOTIFICATIONS.labels("retry").inc()
            log.warning("notification %s of %s not settled yet: %s", note.event, note.object.id, error)
            return web.json_response({"error": "try again later"}, status=503)
        metrics.NOTIFICATIONS.labels(outcome.value).inc()
        log.info("notification %s of %s: %s", note.event, note.object.id, outcome.value)
        return web.json_response({})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(path, notified)
    return app


class WebhookServer:
    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._host = host
        self._port = port

    @property
    def port(self) -> int:
        for address in self._runner.addresses:
            return int(address[1])
        return self._port

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
