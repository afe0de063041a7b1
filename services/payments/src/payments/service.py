"""What the payments service does: payment links, settling a payment by what YooKassa says, the
reconcile, refunds.

Nothing a notification says is believed: ``settle`` gets only a payment id and asks YooKassa for the
payment; billing credits only a ``succeeded`` one, with the amount YooKassa answered (billing checks
it against the order) and keyed by the payment id, so duplicates, forgeries, stale or reordered
notifications, reconcile rounds and restarts all end in one credit per succeeded payment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from enum import StrEnum
from typing import Any, TypeVar

from medialab_contracts import subjects
from medialab_contracts.errors import (
    MediaLabError,
    ProviderError,
    ProviderRejected,
    ServiceUnavailable,
)
from medialab_contracts.money import format_rub
from medialab_contracts.payments import (
    PaymentCredited,
    YooKassaAttachRequest,
    YooKassaCancelRequest,
    YooKassaOrder,
    YooKassaOrderRequest,
    YooKassaPaidRequest,
    YooKassaPendingReply,
    YooKassaPendingRequest,
    YooKassaRefundReply,
    YooKassaRefundRequest,
    YooKassaSettled,
    YooKassaTopupLink,
    YooKassaTopupRequest,
)
from medialab_runtime.rpc import call
from nats.aio.client import Client
from nats.js import JetStreamContext
from pydantic import BaseModel

from payments import metrics
from payments.settings import PaymentsSettings
from payments.yookassa import Amount, YooKassaClient, YooKassaError, YooKassaUnavailable, YooPayment

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)

ORDER_KEY = "order_id"  # the metadata key the order id travels under


class Outcome(StrEnum):
    credited = "credited"  # this call credited the payment
    already = "already"  # credited (or cancelled) before: nothing moved
    cancelled = "cancelled"
    pending = "pending"  # not final yet: the reconcile looks again
    unknown = "unknown"  # YooKassa does not know the id (a forged notification)
    foreign = "foreign"  # a payment of the shop not made by MediaLab (no order id in its metadata)


def payment_body(order: YooKassaOrder, settings: PaymentsSettings) -> dict[str, Any]:
    """The ``POST /v3/payments`` body of an order: its amount, the 54-FZ receipt to its e-mail, the
    order id in metadata, captured at once, confirmed by a redirect to YooKassa's page."""
    amount = Amount.rub(order.amount)
    body: dict[str, Any] = {
        "amount": amount,
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": settings.yookassa_return_url},
        "description": f"{settings.receipt_description} на {format_rub(order.amount)}"[:128],
        "metadata": {ORDER_KEY: order.order_id},
    }
    if settings.receipts:
        body["receipt"] = {
            "customer": {"email": order.email},
            "items": [
                {
                    "description": settings.receipt_description,
                    "quantity": "1.00",
                    "amount": amount,
                    "vat_code": settings.receipt_vat_code,
                    "payment_mode": settings.receipt_payment_mode,
                    "payment_subject": settings.receipt_payment_subject,
                }
            ],
        }
    return body


class Payments:
    def __init__(
        self, nc: Client, js: JetStreamContext, client: YooKassaClient, settings: PaymentsSettings
    ) -> None:
        self._nc = nc
        self._js = js
        self._client = client
        self._settings = settings

    async def _billing(self, subject: str, request: BaseModel, reply: type[R]) -> R:
        return await call(self._nc, subject, request, reply, timeout=self._settings.billing_timeout_s)

    async def create(self, req: YooKassaTopupRequest) -> YooKassaTopupLink:
        """A pending order in billing, its YooKassa payment (keyed by the order id), the link to pay."""
        order = await self._billing(
            subjects.BILLING_YOOKASSA_ORDER,
            YooKassaOrderRequest(user_id=req.user_id, amount=req.amount, email=req.email),
            YooKassaOrder,
        )
        payment = await _provider(
            self._client.create_payment(payment_body(order, self._settings), order.order_id)
        )
        url = payment.confirmation.confirmation_url if payment.confirmation else None
        if url is None:
            raise ProviderError(f"YooKassa payment {payment.id} has no confirmation URL")
        attach = YooKassaAttachRequest(order_id=order.order_id, payment_id=payment.id)
        await self._billing(subjects.BILLING_YOOKASSA_ATTACH, attach, YooKassaOrder)
        metrics.LINKS.inc()
        log.info("order %s: YooKassa payment %s for user %d", order.order_id, payment.id, req.user_id)
        return YooKassaTopupLink(
            order_id=order.order_id, amount=order.amount, payment_id=payment.id, confirmation_url=url
        )

    async def settle(self, payment_id: str) -> Outcome:
        """Read the payment from YooKassa and have billing book what it says. Raises when YooKassa or
        billing cannot be asked now (the notification is then delivered again, the reconcile retries)."""
        payment = await _provider(self._client.get_payment(payment_id))
        if payment is None:
            log.warning("YooKassa does not know payment %s; nothing to do", payment_id)
            return Outcome.unknown
        order_id = payment.metadata.get(ORDER_KEY)
        if order_id is None:
            log.warning("payment %s has no order id; not MediaLab's", payment.id)
            return Outcome.foreign
        if payment.status == "succeeded" and payment.paid:
            return await self._credit(payment, order_id)
        if payment.status == "canceled":
            cancel = YooKassaCancelRequest(order_id=order_id, payment_id=payment.id)
            settled = await self._billing(subjects.BILLING_YOOKASSA_CANCEL, cancel, YooKassaSettled)
            return Outcome.cancelled if settled.moved else Outcome.already
        return Outcome.pending

    async def _credit(self, payment: YooPayment, order_id: str) -> Outcome:
        try:
            kopecks = payment.amount.kopecks
        except ValueError as error:
            raise ProviderError(f"payment {payment.id}: {error}") from None
        paid = YooKassaPaidRequest(
            order_id=order_id, payment_id=payment.id, amount=kopecks, currency=payment.amount.currency
        )
        settled = await self._billing(subjects.BILLING_YOOKASSA_PAID, paid, YooKassaSettled)
        if not settled.moved:
            return Outcome.already
        metrics.CREDITED.inc()
        event = PaymentCredited(
            user_id=settled.order.user_id,
            amount=settled.order.amount,
            payment_id=payment.id,
            available=settled.balance.available,
        )
        try:
            await self._js.publish(
                subjects.payment_credited_subject(event.user_id),
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"credited:{payment.id}"},
            )
        except Exception as error:  # the money is booked; only the user's message is missed
            log.warning("payment %s credited; the notice was not published (%r)", payment.id, error)
        return Outcome.credited

    async def reconcile_once(self) -> int:
        """One round: the due pending orders, each read from YooKassa; returns how many were looked at."""
        ask = YooKassaPendingRequest(
            older_than_s=self._settings.reconcile_after_s, limit=self._settings.reconcile_batch
        )
        reply = await self._billing(subjects.BILLING_YOOKASSA_PENDING, ask, YooKassaPendingReply)
        for order in reply.orders:
            if order.payment_id is None:
                continue
            try:
                outcome = await self.settle(order.payment_id)
            except (MediaLabError, YooKassaError, YooKassaUnavailable) as error:
                log.warning("reconcile of order %s: %s", order.order_id, error)
                continue
            metrics.RECONCILED.labels(outcome.value).inc()
            if outcome in (Outcome.credited, Outcome.cancelled):
                log.info(
                    "reconcile: order %s %s (its notification was missed)", order.order_id, outcome.value
                )
        return len(reply.orders)

    async def run_reconcile(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.reconcile_once()
            except MediaLabError as error:  # billing away: the next round tries again
                log.warning("reconcile round skipped: %s", error)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self._settings.reconcile_interval_s)
            except TimeoutError:
                pass

    async def refund(self, req: YooKassaRefundRequest) -> YooKassaRefundReply:
        """Debit first (billing checks the admin and that the user still has the money), then ask
        YooKassa to refund under a key of the payment, so repeating a refund that failed half-way
        refunds once."""
        reply = await self._billing(subjects.BILLING_YOOKASSA_REFUND, req, YooKassaRefundReply)
        refund = await _provider(
            self._client.create_refund(req.payment_id, reply.order.amount, f"refund-{req.payment_id}")
        )
        log.info("YooKassa refund %s of payment %s: %s", refund.id, req.payment_id, refund.status)
        return reply


async def _provider(pending: Awaitable[T]) -> T:
    """Await a YooKassa call, turning its failures into the typed errors callers understand."""
    try:
        return await pending
    except YooKassaError as error:
        log.warning("%s", error)
        raise ProviderRejected(str(error)[:300]) from None
    except YooKassaUnavailable as error:
        log.warning("%s", error)
        raise ServiceUnavailable(str(error)[:300]) from None
