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
from medialab_contracts.money import format_rub
from medialab_contracts.payments import (
    StarsCheckRequest,
    StarsOrder,
    StarsOrderRequest,
    StarsPaidReply,
    StarsPaidRequest,
    StarsRefundReply,
    StarsRefundRequest,
)
from medialab_runtime.job_state import CancelMark, JobState
from medialab_runtime.logs import job_context
from medialab_runtime.rpc import add_endpoint
from nats import micro
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.micro.service import Service
from pydantic import BaseModel

from billing import ledger, metrics, privacy, stars
from billing.db import Database
from billing.handoff import publish_job
from billing.settings import BillingSettings

log = logging.getLogger(__name__)

SERVICE_NAME = "billing"


class Billing:
    """The money operations as the outside sees them; the saga and the sweeper share this object."""

    def __init__(self, db: Database, settings: BillingSettings, js: JetStreamContext) -> None:
        self.db = db
        self.settings = settings
        self._js = js
        self._admins = frozenset(settings.admin_ids)
        # Billing's own price list: a request's price is checked against it, never trusted.
        self._catalog = default_catalog(settings.prices)
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
        price = model.price_for(job.size)  # the job's resolution tier, by the shared rule
        if req.rephrase_of is None and req.price != price:
            log.warning("reserve of job %s refused: price %d, catalog %d", job.job_id, req.price, price)
            raise BadRequest(f"job {job.job_id}: {job.model_key} costs {price} kopecks, not {req.price}")
        return price

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
                        conn, req, deadline_s, self.settings.max_jobs_in_flight, list_price
                    )
            if result.created:
                metrics.RESERVATIONS.labels(req.mode.value).inc()
                metrics.RESERVED_KOPECKS.labels(req.mode.value).inc(req.price)
            if req.job is not None and result.operation.status == OperationStatus.pending:
                try:
                    await publish_job(self._js, req.job)
                except Exception as error:  # NATS down or slow: the reservation keeps the job
                    log.warning("job %s not queued yet (%r); the hand-over will", req.job_id, error)
            return ReserveReply(operation=result.operation, balance=result.balance)

    async def settle(self, req: SettleRequest) -> OperationView:
        with job_context(req.job_id, req.trace_id):
            async with self.db.connection() as conn:
                with metrics.DB_SECONDS.labels("settle").time():
                    result = await ledger.settle(conn, req.job_id)
            if result.changed:
                mode = result.operation.mode.value
                metrics.CHARGES.labels(mode).inc()
                metrics.CHARGED_KOPECKS.labels(mode).inc(result.operation.price)
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
        if req.admin_id not in self._admins:
            log.warning("top-up refused: %d is not an admin (target %d)", req.admin_id, req.target_user_id)
            raise NotAdmin(f"{req.admin_id} may not top up balances")
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
        if req.admin_id not in self._admins:
            log.warning("Stars refund refused: %d is not an admin", req.admin_id)
            raise NotAdmin(f"{req.admin_id} may not refund payments")
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
        nc, name=SERVICE_NAME, version=version, queue_group=SERVICE_NAME, description="MediaLab billing"
    )
    for subject, request_type, handler in billing.endpoints():
        await add_endpoint(
            service,
            SERVICE_NAME,
            subject,
            request_type,
            _counting_refusals(subject, handler),
            in_flight=in_flight,
        )
    return service
