"""Request-reply messages of the billing service (``billing.*``)."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from medialab_contracts.base import BusMessage
from medialab_contracts.ids import JOB_ID_PATTERN
from medialab_contracts.jobs import JobRequest, TelegramId
from medialab_contracts.modes import Mode
from medialab_contracts.money import Kopecks, PositiveKopecks

WELCOME_CREDIT = 3000  # 30 ₽, once per user


class OperationStatus(StrEnum):
    pending = "PENDING"
    charged = "CHARGED"
    failed = "FAILED"
    refunded = "REFUNDED"  # charged, then given back: the result could not be delivered


class EnsureUserRequest(BusMessage):
    user_id: TelegramId
    username: str | None = Field(default=None, max_length=64)
    first_name: str | None = Field(default=None, max_length=128)


class BalanceRequest(BusMessage):
    user_id: TelegramId


class BalanceView(BusMessage):
    user_id: TelegramId
    balance: int  # sum of the ledger
    reserved: int = Field(ge=0)  # pending reservations
    available: int  # balance − reserved, never below zero
    created: bool = False  # set by ensure_user when this call created the user


class ReserveRequest(BusMessage):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    user_id: TelegramId
    price: Kopecks
    mode: Mode
    model_id: str = Field(max_length=120)
    deadline_s: int | None = Field(default=None, ge=5, le=86400)
    # Where billing tells the user that the job timed out; absent (older callers) means the private
    # chat, whose id is the user id.
    chat_id: TelegramId | None = None
    # The job the money is held for. Billing publishes it again (same Nats-Msg-Id) if it is still
    # PENDING a little later, so a caller that dies between reserving and publishing loses nothing.
    job: JobRequest | None = None
    # «Переформулировать» after a safety refusal: the refused job this free one (price 0) replaces.
    # Billing checks it itself: that job is the same user's, on the same model at this job's list
    # price, failed by moderation, and named by no other reservation.
    rephrase_of: str | None = Field(default=None, pattern=JOB_ID_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _chat_defaults_to_user(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("chat_id") is None and "user_id" in data:
            return {**data, "chat_id": data["user_id"]}
        return data

    @classmethod
    def for_job(cls, job: JobRequest, rephrase_of: str | None = None) -> Self:
        """The reservation of ``job``, carrying it (billing adds its grace to the job's deadline)."""
        return cls(
            rephrase_of=rephrase_of,
            job_id=job.job_id,
            user_id=job.user_id,
            chat_id=job.chat_id,
            price=job.price,
            mode=job.mode,
            model_id=job.model_id,
            deadline_s=job.deadline_s,
            trace_id=job.trace_id,
            job=job,
        )

    @model_validator(mode="after")
    def _job_matches_the_reservation(self) -> Self:
        job = self.job
        if job is not None and (job.job_id, job.user_id, job.chat_id, job.price, job.mode) != (
            self.job_id,
            self.user_id,
            self.chat_id,
            self.price,
            self.mode,
        ):
            raise ValueError("the job does not match the reservation")
        return self


class SettleRequest(BusMessage):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    # Images the job delivered: fewer than it asked for (variants) and the missing ones' price is
    # returned. None: all of them (a text result has no images).
    delivered: int | None = Field(default=None, ge=1)


class ReleaseRequest(BusMessage):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    reason: str = Field(default="failed", max_length=64)


# The start of every RefundRequest's reason: billing tells an undelivered job from a failed one by it.
UNDELIVERABLE = "undeliverable"


class RefundRequest(BusMessage):
    """Give a job's money back when its result cannot be delivered: a CHARGED job is refunded, a
    PENDING one released (the settle that follows then finds it FAILED); both at most once."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    reason: str = Field(default=UNDELIVERABLE, max_length=64, pattern=f"^{UNDELIVERABLE}")


class OperationRequest(BusMessage):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    user_id: TelegramId  # a user may only look at their own operations


class OperationView(BusMessage):
    job_id: str
    user_id: TelegramId
    mode: Mode
    model_id: str
    price: int  # the whole job's: per image × images
    status: OperationStatus
    images: int = Field(default=1, ge=1)  # asked for
    delivered: int | None = None  # set when charged
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None

    @property
    def undelivered(self) -> bool:
        """Released because its result could not be delivered (the refund came before the charge)."""
        return self.status == OperationStatus.failed and (self.failure_reason or "").startswith(UNDELIVERABLE)


class ReserveReply(BusMessage):
    operation: OperationView
    balance: BalanceView


class HistoryRequest(BusMessage):
    user_id: TelegramId
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=10, ge=1, le=50)


class HistoryKind(StrEnum):
    """A ledger row as the user sees it (billing/ledger.py has the model)."""

    welcome = "welcome"  # the welcome credit
    topup = "topup"  # an admin top-up
    hold = "hold"  # a job in progress, its price reserved
    charge = "charge"  # a job done and paid
    release = "release"  # a job failed: nothing paid
    refund = "refund"  # a paid job whose result could not be delivered: the price back
    # A job whose result could not be delivered, known before it was charged: nothing paid.
    undelivered = "undelivered"
    # A job asked for several images and got fewer: the missing ones' price back, with its charge.
    partial_refund = "partial_refund"
    payment = "payment"  # the user paid (Telegram Stars or YooKassa): the order's amount credited
    payment_refund = "payment_refund"  # that payment given back: the amount debited
    promo = "promo"  # a promo code redeemed: its amount credited
    referral = "referral"  # a user this one invited paid for the first time: the bonus credited


class HistoryEntry(BusMessage):
    kind: HistoryKind
    at: datetime
    delta: int  # what the balance changed by, kopecks (0 for hold and release)
    balance_after: int  # the balance right after this row
    # The job's terms, for rows of a job.
    job_id: str | None = None
    mode: Mode | None = None
    model_id: str | None = None
    price: int | None = None
    method: str | None = None  # payment rows: "stars" or "yookassa"


class HistoryPage(BusMessage):
    items: list[HistoryEntry]  # newest first
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


class TopupRequest(BusMessage):
    request_id: str = Field(min_length=8, max_length=64)
    admin_id: TelegramId
    target_user_id: TelegramId
    amount: PositiveKopecks


class TopupReply(BusMessage):
    target_user_id: TelegramId
    amount: int
    balance: BalanceView


class CancelRequest(BusMessage):
    """❌ Отменить: the job's owner asks to stop it; anyone else's job looks like a missing one."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    user_id: TelegramId


class CancelOutcome(StrEnum):
    released = "released"  # no runner had started it: it never runs, its hold is released now
    requested = "requested"  # running: the runner cancels it at the provider; the outcome event settles
    finished = "finished"  # too late: it has ended (or ends now) and is charged or released as usual


class CancelReply(BusMessage):
    outcome: CancelOutcome
    operation: OperationView


class ForgetRequest(BusMessage):
    """``/delete_me``: drop what billing keeps of a user's content; the money rows stay."""

    user_id: TelegramId


class ForgetReply(BusMessage):
    user_id: TelegramId
    # Every job of the user billing knows: the gateway deletes their results (named by job id).
    job_ids: list[str]
    # The input objects the user's stored jobs named, read before the jobs were dropped.
    object_names: list[str]
    anonymised: int  # operations whose stored job (prompt, inputs) was dropped
