"""The ``billing.*`` request-reply API: thin handlers over ``ledger`` that count what they moved."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    CancelOutcome,
    CancelReply,
    CancelRequest,
    EnsureUserRequest,
    ForgetReply,
    ForgetRequest,
    HistoryPage,
    HistoryRequest,
    OperationRequest,
    OperationStatus,
    OperationView,
    RefundRequest,
    ReleaseRequest,
    ReserveReply,
    ReserveRequest,
    SettleRequest,
    TopupReply,
    TopupRequest,
)
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import BadAmount, BadRequest, MediaLabError, NotAdmin
from medialab_contracts.events import FailureReason
from medialab_contracts.jobs import JobRequest
from medialab_contracts.money import format_rub
from medialab_contracts.payments import (
    StarsCheckRequest,
    StarsOrder,
    StarsOrderRequest,
    StarsPaidReply,
    StarsPaidRequest,
    StarsRefundReply,
    StarsRefundRequest,
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
)
from medialab_contracts.promo import (
    PromoCreateRequest,
    PromoOutcome,
    PromoRedeemReply,
    PromoRedeemRequest,
    PromoView,
    ReferralReply,
    ReferralRequest,
    StatsReply,
    StatsRequest,
)
from medialab_runtime.job_state import CancelMark, JobState
from medialab_runtime.logs import job_context
from medialab_runtime.rpc import add_endpoint
from nats import micro
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.micro.service import Service
from pydantic import BaseModel

from billing import ledger, metrics, privacy, promo, stars, stats, yookassa
from billing.db import Database
from billing.handoff import publish_job
from billing.settings import BillingSettings

log = logging.getLogger(__name__)

NAME = "billing"


class Billing:
    """The money operations as the outside sees them; the saga and the sweeper share this object."""

    def __init__(self, db: Database, settings: BillingSettings, js: JetStreamContext) -> None:
        self.db = db
        self.settings = settings
        self._js = js
        self._admins = frozenset(settings.admin_ids)
        # Billing's own price list: a request's price is checked against it, never trusted.
        self._catalog = default_catalog(settings.prices)
        unknown = set(settings.provider_costs) - {model.key for model in self._catalog.models}
        if unknown:
            raise ValueError(f"PROVIDER_COSTS names unknown model keys: {sorted(unknown)}")
        self._job_state: JobState | None = None

    def _check_terms(self, req: ReserveRequest) -> int | None:
        """Refuse terms the catalog does not give; the job's list price (None without a job)."""
        if req.rephrase_of is not None:
            if req.price != 0 or req.job is None:
                raise BadRequest(f"job {req.job_id}: a rephrase is a free job")
        elif req.price <= 0:
            raise BadRequest(f"job {req.job_id}: a reservation holds a positive amount")
        job = req.job
        if job is None:
            return None  # nothing is queued for it: it holds the user's own money and runs nothing
        model = self._catalog.get(job.model_key)
        # The mode is not checked: alias-only models (flux) serve a mode they are not listed under.
        if model is None or (job.model_id, job.runner) != (model.model_id, model.runner):
            raise BadRequest(f"job {job.job_id}: {job.model_key} is not the catalog's {job.model_id}")
        if job.images > model.max_variants:
            raise BadRequest(f"job {job.job_id}: {job.model_key} returns at most {model.max_variants} images")
        price = model.price_for(job.size, job.images)  # its resolution tier and images, by the shared rule
        if req.rephrase_of is None and req.price != price:
            log.warning("reserve of job %s refused: price %d, catalog %d", job.job_id, req.price, price)
            raise BadRequest(f"job {job.job_id}: {job.model_key} costs {price} kopecks, not {req.price}")
        return price

    def _provider_cost(self, job: JobRequest | None) -> int:
        """Kopecks the provider bills for ``job`` at list price (an override per model key wins)."""
        if job is None:
            return 0
        model = self._catalog.by_key(job.model_key)  # _check_terms made sure it is the catalog's
        override = self.settings.provider_costs.get(job.model_key)
        if override is not None:
            return override
        return -(-model.cost_for(job.size) * job.images * self.settings.usd_rate_kopecks // 1_000_000)

    def _check_admin(self, admin_id: int, what: str) -> None:
        if admin_id not in self._admins:
            log.warning("%s refused: %d is not an admin", what, admin_id)
            raise NotAdmin(f"{admin_id} may not {what}")

    async def ensure_user(self, req: EnsureUserRequest) -> BalanceView:
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("ensure_user").time():
                view = await ledger.ensure_user(
                    conn, req.user_id, self.settings.welcome_credit, req.username, req.first_name
                )
        if view.created:
            metrics.USERS_CREATED.inc()
            log.info("user %d created with %d kopecks", req.user_id, self.settings.welcome_credit)
        return view

    async def reserve(self, req: ReserveRequest) -> ReserveReply:
        with job_context(req.job_id, req.trace_id):
            list_price = self._check_terms(req)
            deadline_s = self.settings.deadline_s(req.mode, req.deadline_s)
            async with self.db.connection() as conn:
                with metrics.DB_SECONDS.labels("reserve").time():
                    result = await ledger.reserve(
                        conn,
                        req,
                        deadline_s,
                        self.settings.max_jobs_in_flight,
                        list_price,
                        self._provider_cost(req.job),
                    )
            if result.created:
                metrics.RESERVATIONS.labels(req.mode.value).inc()
                metrics.RESERVED_KOPECKS.labels(req.mode.value).inc(req.price)
            if req.job is not None and result.operation.status == OperationStatus.pending:
                try:
                    await publish_job(self._js, req.job, self.settings.job_signing_secret)
                except Exception as error:  # NATS down or slow: the reservation keeps the job
                    log.warning("job %s not queued yet (%r); the hand-over will", req.job_id, error)
            return ReserveReply(operation=result.operation, balance=result.balance)

    async def settle(self, req: SettleRequest) -> OperationView:
        with job_context(req.job_id, req.trace_id):
            async with self.db.connection() as conn:
                with metrics.DB_SECONDS.labels("settle").time():
                    result = await ledger.settle(conn, req.job_id, req.delivered)
            if result.changed:
                mode = result.operation.mode.value
                metrics.CHARGES.labels(mode).inc()
                metrics.CHARGED_KOPECKS.labels(mode).inc(result.operation.price - result.returned)
                if result.returned:
                    log.info(
                        "job %s delivered %s of %d images: %d kopecks returned",
                        req.job_id,
                        result.operation.delivered,
                        result.operation.images,
                        result.returned,
                    )
                metrics.PROVIDER_COST_KOPECKS.labels(mode).inc(result.provider_cost)
            else:
                log.info("job %s was already charged; nothing to do", req.job_id)
            return result.operation

    async def release(self, req: ReleaseRequest) -> OperationView:
        with job_context(req.job_id, req.trace_id):
            async with self.db.connection() as conn:
                with metrics.DB_SECONDS.labels("release").time():
                    result = await ledger.release(conn, req.job_id, req.reason)
            if result.changed:
                mode = result.operation.mode.value
                metrics.RELEASES.labels(metrics.release_reason_label(req.reason), mode).inc()
                metrics.RELEASED_KOPECKS.labels(mode).inc(result.operation.price)
            else:
                log.info("job %s was already released; nothing to do", req.job_id)
            return result.operation

    async def refund(self, req: RefundRequest) -> OperationView:
        with job_context(req.job_id, req.trace_id):
            async with self.db.connection() as conn:
                with metrics.DB_SECONDS.labels("refund").time():
                    result = await ledger.refund(conn, req.job_id, req.reason)
            if result.changed:
                log.info("job %s refunded %d kopecks (%s)", req.job_id, result.operation.price, req.reason)
            else:
                log.info("job %s was already refunded or released; nothing to do", req.job_id)
            return result.operation

    async def balance(self, req: BalanceRequest) -> BalanceView:
        async with self.db.connection() as conn:
            return await ledger.balance(conn, req.user_id)

    async def history(self, req: HistoryRequest) -> HistoryPage:
        async with self.db.connection() as conn:
            return await ledger.history(conn, req.user_id, req.page, req.page_size)

    async def operation(self, req: OperationRequest) -> OperationView:
        async with self.db.connection() as conn:
            return await ledger.operation(conn, req.job_id, req.user_id)

    async def cancel(self, req: CancelRequest) -> CancelReply:
        """❌ Отменить: a job no runner started is released now and never runs; a running one is left
        to its runner to stop at the provider (its final event then releases or charges it)."""
        with job_context(req.job_id, req.trace_id):
            async with self.db.connection() as conn:
                op = await ledger.operation(conn, req.job_id, req.user_id)  # UnknownJob if not theirs
            if op.status != OperationStatus.pending:
                return CancelReply(outcome=CancelOutcome.finished, operation=op)
            if self._job_state is None:
                self._job_state = await JobState.open(self._js)
            mark = await self._job_state.cancel(req.job_id)
            if mark is None:
                return CancelReply(outcome=CancelOutcome.finished, operation=op)
            if mark is CancelMark.requested:
                log.info("job %s cancel requested while it runs", req.job_id)
                return CancelReply(outcome=CancelOutcome.requested, operation=op)
            released = await self.release(
                ReleaseRequest(job_id=req.job_id, reason=FailureReason.cancelled.value, trace_id=req.trace_id)
            )
            log.info("job %s cancelled before it started; released", req.job_id)
            return CancelReply(outcome=CancelOutcome.released, operation=released)

    async def forget(self, req: ForgetRequest) -> ForgetReply:
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("forget").time():
                reply = await privacy.forget_user(conn, req.user_id)
        metrics.FORGOTTEN_USERS.inc()
        log.info(
            "user %d forgotten: %d of %d jobs had content", req.user_id, reply.anonymised, len(reply.job_ids)
        )
        return reply

    async def topup(self, req: TopupRequest) -> TopupReply:
        self._check_admin(req.admin_id, "top up balances")
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("topup").time():
                result = await ledger.topup(conn, req, self.settings.max_balance)
        if result.created:
            metrics.TOPUPS.inc()
            metrics.TOPUP_KOPECKS.inc(req.amount)
            log.info(
                "admin %d topped up user %d by %d kopecks (request %s)",
                req.admin_id,
                req.target_user_id,
                req.amount,
                req.request_id,
            )
        else:
            log.info("top-up request %s was already applied; nothing to do", req.request_id)
        return TopupReply(target_user_id=req.target_user_id, amount=req.amount, balance=result.balance)

    async def stars_order(self, req: StarsOrderRequest) -> StarsOrder:
        low, high = self.settings.stars_min_topup, self.settings.stars_max_topup
        if not low <= req.amount <= high:
            raise BadAmount(f"a top-up is {format_rub(low)} to {format_rub(high)}")
        price = stars.stars_for(req.amount, self.settings.stars_rate_kopecks)
        async with self.db.connection() as conn:
            order = await stars.create_order(conn, req.user_id, req.amount, price)
        log.info("order %s: user %d, %d kopecks for %d Stars", order.order_id, req.user_id, req.amount, price)
        return order

    async def stars_check(self, req: StarsCheckRequest) -> StarsOrder:
        async with self.db.connection() as conn:
            return await stars.check_order(conn, req)

    async def stars_paid(self, req: StarsPaidRequest) -> StarsPaidReply:
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("stars_paid").time():
                payment = await stars.credit(conn, req)
        if payment.moved:
            metrics.PAYMENTS.labels("stars").inc()
            metrics.PAYMENT_KOPECKS.labels("stars").inc(payment.order.amount)
            log.info(
                "order %s paid (%s): user %d credited %d kopecks",
                req.order_id,
                req.charge_id,
                req.user_id,
                payment.order.amount,
            )
        else:
            log.info("payment %s was already credited; nothing to do", req.charge_id)
        return StarsPaidReply(order=payment.order, balance=payment.balance, credited=payment.moved)

    async def stars_refund(self, req: StarsRefundRequest) -> StarsRefundReply:
        self._check_admin(req.admin_id, "refund payments")
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("stars_refund").time():
                payment = await stars.refund(conn, req.charge_id)
        if payment.moved:
            metrics.PAYMENT_REFUNDS.labels("stars").inc()
            log.info(
                "admin %d refunded payment %s: user %d debited %d kopecks",
                req.admin_id,
                req.charge_id,
                payment.order.user_id,
                payment.order.amount,
            )
        return StarsRefundReply(order=payment.order, balance=payment.balance, debited=payment.moved)

    async def promo_create(self, req: PromoCreateRequest) -> PromoView:
        self._check_admin(req.admin_id, "create promo codes")
        async with self.db.connection() as conn:
            view = await promo.create(conn, req)
        if view.created:
            log.info(
                "admin %d made promo code %s: %d kopecks, %d uses, until %s",
                req.admin_id,
                view.code,
                view.amount,
                view.max_uses,
                view.expires_at,
            )
        return view

    async def promo_redeem(self, req: PromoRedeemRequest) -> PromoRedeemReply:
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("promo_redeem").time():
                done = await promo.redeem(conn, req.user_id, req.code)
        if done.outcome == PromoOutcome.credited:
            metrics.PROMO_REDEMPTIONS.inc()
            metrics.PROMO_KOPECKS.inc(done.amount)
            log.info("user %d redeemed a promo code for %d kopecks", req.user_id, done.amount)
        return PromoRedeemReply(outcome=done.outcome, amount=done.amount, balance=done.balance)

    async def referral(self, req: ReferralRequest) -> ReferralReply:
        bonus = self.settings.referral_bonus
        if bonus == 0:
            return ReferralReply(recorded=False)  # referrals are off
        async with self.db.connection() as conn:
            recorded = await promo.refer(
                conn, req.user_id, req.referrer_id, bonus, self.settings.referral_window_s
            )
        if recorded:
            log.info("user %d was referred by %d", req.user_id, req.referrer_id)
        return ReferralReply(recorded=recorded)

    async def statistics(self, req: StatsRequest) -> StatsReply:
        self._check_admin(req.admin_id, "read statistics")
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("stats").time():
                return StatsReply(periods=await stats.periods(conn))

    async def yookassa_order(self, req: YooKassaOrderRequest) -> YooKassaOrder:
        low, high = self.settings.yookassa_min_topup, self.settings.yookassa_max_topup
        if not low <= req.amount <= high:
            raise BadAmount(f"a top-up is {format_rub(low)} to {format_rub(high)}")
        async with self.db.connection() as conn:
            order = await yookassa.create_order(conn, req)
        log.info("YooKassa order %s: user %d, %d kopecks", order.order_id, req.user_id, req.amount)
        return order

    async def yookassa_attach(self, req: YooKassaAttachRequest) -> YooKassaOrder:
        async with self.db.connection() as conn:
            return await yookassa.attach(conn, req.order_id, req.payment_id)

    async def yookassa_paid(self, req: YooKassaPaidRequest) -> YooKassaSettled:
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("yookassa_paid").time():
                settled = await yookassa.credit(conn, req)
        if settled.moved:
            metrics.PAYMENTS.labels("yookassa").inc()
            metrics.PAYMENT_KOPECKS.labels("yookassa").inc(settled.order.amount)
            log.info(
                "order %s paid (YooKassa %s): user %d credited %d kopecks",
                req.order_id,
                req.payment_id,
                settled.order.user_id,
                settled.order.amount,
            )
        return settled

    async def yookassa_cancel(self, req: YooKassaCancelRequest) -> YooKassaSettled:
        async with self.db.connection() as conn:
            settled = await yookassa.cancel(conn, req)
        if settled.moved:
            log.info("order %s cancelled (YooKassa %s canceled)", req.order_id, req.payment_id)
        return settled

    async def yookassa_pending(self, req: YooKassaPendingRequest) -> YooKassaPendingReply:
        async with self.db.connection() as conn:
            return YooKassaPendingReply(orders=await yookassa.due(conn, req.older_than_s, req.limit))

    async def yookassa_refund(self, req: YooKassaRefundRequest) -> YooKassaRefundReply:
        if req.admin_id not in self._admins:
            log.warning("YooKassa refund refused: %d is not an admin", req.admin_id)
            raise NotAdmin(f"{req.admin_id} may not refund payments")
        async with self.db.connection() as conn:
            with metrics.DB_SECONDS.labels("yookassa_refund").time():
                order, debit = await yookassa.refund(conn, req.payment_id)
        if debit.moved:
            metrics.PAYMENT_REFUNDS.labels("yookassa").inc()
            log.info(
                "admin %d refunded YooKassa payment %s: user %d debited %d kopecks",
                req.admin_id,
                req.payment_id,
                order.user_id,
                order.amount,
            )
        return YooKassaRefundReply(order=order, balance=debit.balance, debited=debit.moved)

    def endpoints(self) -> list[tuple[str, type[BaseModel], Callable[[Any], Awaitable[BaseModel]]]]:
        return [
            (subjects.BILLING_ENSURE_USER, EnsureUserRequest, self.ensure_user),
            (subjects.BILLING_RESERVE, ReserveRequest, self.reserve),
            (subjects.BILLING_SETTLE, SettleRequest, self.settle),
            (subjects.BILLING_RELEASE, ReleaseRequest, self.release),
            (subjects.BILLING_REFUND, RefundRequest, self.refund),
            (subjects.BILLING_CANCEL, CancelRequest, self.cancel),
            (subjects.BILLING_BALANCE, BalanceRequest, self.balance),
            (subjects.BILLING_HISTORY, HistoryRequest, self.history),
            (subjects.BILLING_TOPUP, TopupRequest, self.topup),
            (subjects.BILLING_OPERATION, OperationRequest, self.operation),
            (subjects.BILLING_FORGET, ForgetRequest, self.forget),
            (subjects.BILLING_STARS_ORDER, StarsOrderRequest, self.stars_order),
            (subjects.BILLING_STARS_CHECK, StarsCheckRequest, self.stars_check),
            (subjects.BILLING_STARS_PAID, StarsPaidRequest, self.stars_paid),
            (subjects.BILLING_STARS_REFUND, StarsRefundRequest, self.stars_refund),
            (subjects.BILLING_PROMO_CREATE, PromoCreateRequest, self.promo_create),
            (subjects.BILLING_PROMO_REDEEM, PromoRedeemRequest, self.promo_redeem),
            (subjects.BILLING_REFERRAL, ReferralRequest, self.referral),
            (subjects.BILLING_STATS, StatsRequest, self.statistics),
            (subjects.BILLING_YOOKASSA_ORDER, YooKassaOrderRequest, self.yookassa_order),
            (subjects.BILLING_YOOKASSA_ATTACH, YooKassaAttachRequest, self.yookassa_attach),
            (subjects.BILLING_YOOKASSA_PAID, YooKassaPaidRequest, self.yookassa_paid),
            (subjects.BILLING_YOOKASSA_CANCEL, YooKassaCancelRequest, self.yookassa_cancel),
            (subjects.BILLING_YOOKASSA_PENDING, YooKassaPendingRequest, self.yookassa_pending),
            (subjects.BILLING_YOOKASSA_REFUND, YooKassaRefundRequest, self.yookassa_refund),
        ]


def _counting_refusals(
    subject: str, handler: Callable[[Any], Awaitable[BaseModel]]
) -> Callable[[Any], Awaitable[BaseModel]]:
    async def handle(request: Any) -> BaseModel:
        try:
            return await handler(request)
        except MediaLabError as error:
            metrics.REFUSALS.labels(subject, error.code.value).inc()
            raise

    return handle


async def serve(nc: Client, billing: Billing, version: str, in_flight: set[asyncio.Task[None]]) -> Service:
    """Serve every endpoint in the ``billing`` queue group; each request runs in its own task.

    Requests wait on PostgreSQL concurrently (up to the pool size; the pool's acquire timeout is
    the back-pressure). The tasks stay in ``in_flight`` until answered, for the shutdown to await.
    """
    service = await micro.add_service(
        nc, name=NAME, version=version, queue_group=NAME, description="MediaLab billing"
    )
    for subject, request_type, handler in billing.endpoints():
        await add_endpoint(
            service,
            NAME,
            subject,
            request_type,
            _counting_refusals(subject, handler),
            in_flight=in_flight,
        )
    return service
