"""payments.* over NATS request-reply: YooKassa payment links and admins' YooKassa refunds."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.payments import (
    YooKassaRefundReply,
    YooKassaRefundRequest,
    YooKassaTopupLink,
    YooKassaTopupRequest,
)
from medialab_runtime.rpc import call
from nats.aio.client import Client


class PaymentsClient:
    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout

    async def yookassa_link(self, user_id: int, amount: int, email: str | None) -> YooKassaTopupLink:
        request = YooKassaTopupRequest(user_id=user_id, amount=amount, email=email)
        return await call(
            self._nc, subjects.PAYMENTS_YOOKASSA_CREATE, request, YooKassaTopupLink, self._timeout
        )

    async def yookassa_refund(self, admin_id: int, payment_id: str) -> YooKassaRefundReply:
        request = YooKassaRefundRequest(admin_id=admin_id, payment_id=payment_id)
        return await call(
            self._nc, subjects.PAYMENTS_YOOKASSA_REFUND, request, YooKassaRefundReply, self._timeout
        )
