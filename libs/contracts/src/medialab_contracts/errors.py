"""Typed errors with stable codes, shared by request-reply services and their callers."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, Field


class ErrorCode(StrEnum):
    bad_request = "bad_request"
    insufficient_funds = "insufficient_funds"
    too_many_jobs = "too_many_jobs"
    unknown_user = "unknown_user"
    unknown_job = "unknown_job"
    unknown_order = "unknown_order"
    not_admin = "not_admin"
    bad_amount = "bad_amount"
    email_required = "email_required"  # a YooKassa top-up needs the e-mail its receipt goes to
    conflict = "conflict"
    unavailable = "unavailable"
    timeout = "timeout"
    provider_busy = "provider_busy"
    provider_rejected = "provider_rejected"
    provider_error = "provider_error"
    llm_bad_output = "llm_bad_output"
    internal = "internal"


class ErrorReply(BaseModel):
    code: ErrorCode
    message: str = Field(max_length=500)
    available: int | None = None
    price: int | None = None
    limit: int | None = None  # TooManyJobs: the user's quota of jobs in flight


class MediaLabError(Exception):
    code: ClassVar[ErrorCode] = ErrorCode.internal

    def __init__(self, message: str = "", **data: Any) -> None:
        super().__init__(message or self.code.value)
        self.message = message or self.code.value
        self.data = data

    def to_reply(self) -> ErrorReply:
        return ErrorReply(code=self.code, message=self.message[:500], **self.data)

    @staticmethod
    def from_reply(reply: ErrorReply) -> MediaLabError:
        cls = _BY_CODE.get(reply.code, InternalError)
        fields = (("available", reply.available), ("price", reply.price), ("limit", reply.limit))
        data = {k: v for k, v in fields if v is not None}
        return cls(reply.message, **data)


class BadRequest(MediaLabError):
    code = ErrorCode.bad_request


class InsufficientFunds(MediaLabError):
    code = ErrorCode.insufficient_funds

    def __init__(self, message: str = "", *, available: int, price: int) -> None:
        super().__init__(message or "insufficient funds", available=available, price=price)

    @property
    def available(self) -> int:
        return int(self.data["available"])

    @property
    def price(self) -> int:
        return int(self.data["price"])


class TooManyJobs(MediaLabError):
    """The user already has as many jobs in flight (reserved, not finished) as allowed."""

    code = ErrorCode.too_many_jobs

    def __init__(self, message: str = "", *, limit: int) -> None:
        super().__init__(message or "too many jobs in flight", limit=limit)

    @property
    def limit(self) -> int:
        return int(self.data["limit"])


class UnknownUser(MediaLabError):
    code = ErrorCode.unknown_user


class UnknownJob(MediaLabError):
    code = ErrorCode.unknown_job


class UnknownOrder(MediaLabError):
    code = ErrorCode.unknown_order


class NotAdmin(MediaLabError):
    code = ErrorCode.not_admin


class BadAmount(MediaLabError):
    code = ErrorCode.bad_amount


class EmailRequired(MediaLabError):
    code = ErrorCode.email_required


class Conflict(MediaLabError):
    code = ErrorCode.conflict


class ServiceUnavailable(MediaLabError):
    code = ErrorCode.unavailable


class Timeout(MediaLabError):
    code = ErrorCode.timeout


class ProviderBusy(MediaLabError):
    code = ErrorCode.provider_busy


class ProviderRejected(MediaLabError):
    code = ErrorCode.provider_rejected


class ProviderError(MediaLabError):
    code = ErrorCode.provider_error


class LlmBadOutput(MediaLabError):
    code = ErrorCode.llm_bad_output


class InternalError(MediaLabError):
    code = ErrorCode.internal


_BY_CODE: dict[ErrorCode, type[MediaLabError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        InsufficientFunds,
        TooManyJobs,
        UnknownUser,
        UnknownJob,
        UnknownOrder,
        NotAdmin,
        BadAmount,
        EmailRequired,
        Conflict,
        ServiceUnavailable,
        Timeout,
        ProviderBusy,
        ProviderRejected,
        ProviderError,
        LlmBadOutput,
        InternalError,
    )
}
