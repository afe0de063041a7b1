"""billing.* over NATS request-reply; raises the typed errors billing raised."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    CancelReply,
    CancelRequest,
    EnsureUserRequest,
    ForgetReply,
    ForgetRequest,
    HistoryPage,
    HistoryRequest,
    OperationRequest,
    OperationView,
    RefundRequest,
    ReserveReply,
    ReserveRequest,
    TopupReply,
    TopupRequest,
)
from medialab_contracts.jobs import JobRequest
from medialab_contracts.payments import (
    StarsCheckRequest,
    StarsOrder,
    StarsOrderRequest,
    StarsPaidReply,
    StarsPaidRequest,
    StarsRefundReply,
    StarsRefundRequest,
)
from medialab_contracts.promo import (
    PromoCreateRequest,
    PromoRedeemReply,
    PromoRedeemRequest,
    PromoView,
    ReferralReply,
    ReferralRequest,
    StatsReply,
    StatsRequest,
)
from medialab_runtime.rpc import call
from nats.aio.client import Client


class BillingClient:
    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout

    async def ensure_user(self, user_id: int, username: str | None, first_name: str | None) -> BalanceView:
        request = EnsureUserRequest(
            user_id=user_id,
            username=(username or None) and username[:64],
            first_name=(first_name or None) and first_name[:128],
        )
        return await call(self._nc, subjects.BILLING_ENSURE_USER, request, BalanceView, self._timeout)

    async def reserve(self, job: JobRequest, rephrase_of: str | None = None) -> ReserveReply:
        # The job goes along: billing publishes it should this gateway fail to.
        request = ReserveRequest.for_job(job, rephrase_of)
        return await call(self._nc, subjects.BILLING_RESERVE, request, ReserveReply, self._timeout)

    async def refund(self, job_id: str, reason: str, trace_id: str) -> OperationView:
        request = RefundRequest(job_id=job_id, reason=reason, trace_id=trace_id)
        return await call(self._nc, subjects.BILLING_REFUND, request, OperationView, self._timeout)

    async def balance(self, user_id: int) -> BalanceView:
        return await call(
            self._nc, subjects.BILLING_BALANCE, BalanceRequest(user_id=user_id), BalanceView, self._timeout
        )

    async def history(self, user_id: int, page: int, page_size: int) -> HistoryPage:
        request = HistoryRequest(user_id=user_id, page=page, page_size=page_size)
        return await call(self._nc, subjects.BILLING_HISTORY, request, HistoryPage, self._timeout)

    async def operation(self, job_id: str, user_id: int) -> OperationView:
        request = OperationRequest(job_id=job_id, user_id=user_id)
        return await call(self._nc, subjects.BILLING_OPERATION, request, OperationView, self._timeout)

    async def cancel(self, job_id: str, user_id: int) -> CancelReply:
        request = CancelRequest(job_id=job_id, user_id=user_id)
        return await call(self._nc, subjects.BILLING_CANCEL, request, CancelReply, self._timeout)

    async def forget(self, user_id: int) -> ForgetReply:
        request = ForgetRequest(user_id=user_id)
        return await call(self._nc, subjects.BILLING_FORGET, request, ForgetReply, self._timeout)

    async def topup(self, request_id: str, admin_id: int, target_user_id: int, amount: int) -> TopupReply:
        request = TopupRequest(
            request_id=request_id, admin_id=admin_id, target_user_id=target_user_id, amount=amount
        )
        return await call(self._nc, subjects.BILLING_TOPUP, request, TopupReply, self._timeout)

    async def stars_order(self, user_id: int, amount: int) -> StarsOrder:
        request = StarsOrderRequest(user_id=user_id, amount=amount)
        return await call(self._nc, subjects.BILLING_STARS_ORDER, request, StarsOrder, self._timeout)

    async def stars_check(self, order_id: str, user_id: int, stars: int) -> StarsOrder:
        request = StarsCheckRequest(order_id=order_id, user_id=user_id, stars=stars)
        return await call(self._nc, subjects.BILLING_STARS_CHECK, request, StarsOrder, self._timeout)

    async def stars_paid(self, order_id: str, user_id: int, stars: int, charge_id: str) -> StarsPaidReply:
        request = StarsPaidRequest(order_id=order_id, user_id=user_id, stars=stars, charge_id=charge_id)
        return await call(self._nc, subjects.BILLING_STARS_PAID, request, StarsPaidReply, self._timeout)

    async def stars_refund(self, admin_id: int, charge_id: str) -> StarsRefundReply:
        request = StarsRefundRequest(admin_id=admin_id, charge_id=charge_id)
        return await call(self._nc, subjects.BILLING_STARS_REFUND, request, StarsRefundReply, self._timeout)

    async def promo_create(self, request: PromoCreateRequest) -> PromoView:
        return await call(self._nc, subjects.BILLING_PROMO_CREATE, request, PromoView, self._timeout)

    async def promo_redeem(self, user_id: int, code: str) -> PromoRedeemReply:
        request = PromoRedeemRequest(user_id=user_id, code=code[:64])
        return await call(self._nc, subjects.BILLING_PROMO_REDEEM, request, PromoRedeemReply, self._timeout)

    async def referral(self, user_id: int, referrer_id: int) -> ReferralReply:
        request = ReferralRequest(user_id=user_id, referrer_id=referrer_id)
        return await call(self._nc, subjects.BILLING_REFERRAL, request, ReferralReply, self._timeout)

    async def stats(self, admin_id: int) -> StatsReply:
        request = StatsRequest(admin_id=admin_id)
        return await call(self._nc, subjects.BILLING_STATS, request, StatsReply, self._timeout)
