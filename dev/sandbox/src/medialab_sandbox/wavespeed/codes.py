"""Task error codes and account levels as WaveSpeed documents them (wavespeed.md §6, §7)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TaskErrorCode(IntEnum):
    """`data.code` of a failed task: 1xxx means fix the request, 5xxx means retry."""

    CONTENT_MODERATION = 1200
    MISSING_PARAMETER = 1400
    INVALID_PARAMETER = 1401
    MEDIA_ACCESS_FAILED = 1402
    TASK_EXECUTION_FAILED = 1403
    TASK_FAILED = 1405
    INTERNAL_ERROR = 5000
    SERVICE_UNAVAILABLE = 5003
    TIMEOUT = 5004


DEFAULT_TASK_ERRORS: dict[int, str] = {
    TaskErrorCode.CONTENT_MODERATION: "The input or output was flagged as sensitive content.",
    TaskErrorCode.MISSING_PARAMETER: "Missing required parameter.",
    TaskErrorCode.INVALID_PARAMETER: "Invalid parameter.",
    TaskErrorCode.MEDIA_ACCESS_FAILED: "Failed to download image from the provided URL.",
    TaskErrorCode.TASK_EXECUTION_FAILED: "Task execution failed: no face detected in the image.",
    TaskErrorCode.TASK_FAILED: "Task failed.",
    TaskErrorCode.INTERNAL_ERROR: "Internal error, please retry.",
    TaskErrorCode.SERVICE_UNAVAILABLE: "Service temporarily unavailable, please retry.",
    TaskErrorCode.TIMEOUT: "Task timed out.",
}


def default_task_error(code: int) -> str:
    return DEFAULT_TASK_ERRORS.get(code, f"Task failed with code {code}.")


def sync_timeout_message(seconds: float) -> str:
    # The SDK fixture says "90 seconds"; the figure follows the configured timeout here.
    return (
        f"Sync mode timed out after {seconds:g} seconds. The prediction is still processing asynchronously."
    )


class AccountLimits(BaseModel):
    """Per-account limits: tasks running at once, and task starts per rate window."""

    model_config = ConfigDict(frozen=True)

    max_concurrency: int = Field(ge=1)
    starts_per_minute: int = Field(ge=1)


class AccountLevel(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    ULTRA = "ultra"

    @property
    def limits(self) -> AccountLimits:
        return _LEVEL_LIMITS[self]


_LEVEL_LIMITS: dict[AccountLevel, AccountLimits] = {
    AccountLevel.BRONZE: AccountLimits(max_concurrency=2, starts_per_minute=2),
    AccountLevel.SILVER: AccountLimits(max_concurrency=300, starts_per_minute=500),
    AccountLevel.GOLD: AccountLimits(max_concurrency=3000, starts_per_minute=3000),
    AccountLevel.ULTRA: AccountLimits(max_concurrency=10000, starts_per_minute=5000),
}
