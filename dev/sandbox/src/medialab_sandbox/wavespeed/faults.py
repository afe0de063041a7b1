"""Injected faults: queued one-shot misbehaviours, each consumed by the next matching request."""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from medialab_sandbox.wavespeed.codes import default_task_error


class Target(StrEnum):
    """Which kind of request a fault hits."""

    SUBMIT = "submit"
    POLL = "poll"
    UPLOAD = "upload"  # the API calls: upload ticket and legacy binary upload
    STORAGE_PUT = "storage_put"  # the PUT of bytes to a ticket's signed URL
    DOWNLOAD = "download"
    HISTORY = "history"  # the prediction list, POST /api/v3/predictions


class HttpFault(BaseModel):
    """Answer with `status` instead of the real response."""

    kind: Literal["http"] = "http"
    status: int = Field(ge=400, le=599)
    body: dict[str, Any] | str | None = Field(
        default=None, description="JSON object, raw text (e.g. a proxy's HTML), or the envelope"
    )
    retry_after: float | None = Field(default=None, ge=0)
    after_create: bool = Field(
        default=False,
        description="submits only: the task is created and runs, only the answer is an error "
        "(a gateway 504 in sync mode, or a lost response)",
    )


class HangFault(BaseModel):
    """Hold the request open, then answer normally; `None` holds it until the emulator stops."""

    kind: Literal["hang"] = "hang"
    seconds: float | None = Field(default=None, ge=0)
    after_create: bool = Field(
        default=False,
        description="submits only: the task is created and runs, then the answer is held "
        "(the client's read timeout fires on a task that exists)",
    )


Fault = Annotated[HttpFault | HangFault, Field(discriminator="kind")]


class TaskFailure(BaseModel):
    """Make a task end `failed` with this task error code (1xxx final, 5xxx retryable)."""

    code: int = Field(ge=1000, le=5999)
    message: str | None = None

    @property
    def error(self) -> str:
        return self.message or default_task_error(self.code)


class PendingFaults(BaseModel):
    faults: dict[Target, list[Fault]]
    task_failures: list[TaskFailure]
    slow_tasks: list[float]
    sync_timeouts: int


class FaultPlan:
    def __init__(self) -> None:
        self._faults: dict[Target, deque[HttpFault | HangFault]] = {t: deque() for t in Target}
        self._task_failures: deque[TaskFailure] = deque()
        self._slow_tasks: deque[float] = deque()
        self._sync_timeouts = 0

    def inject(self, target: Target, fault: HttpFault | HangFault, count: int = 1) -> None:
        if fault.after_create and target is not Target.SUBMIT:
            raise ValueError("after_create applies to submits only")
        self._faults[Target(target)].extend([fault] * count)

    def fail_submits(
        self,
        status: int,
        count: int = 1,
        *,
        body: dict[str, Any] | str | None = None,
        retry_after: float | None = None,
        after_create: bool = False,
    ) -> None:
        fault = HttpFault(status=status, body=body, retry_after=retry_after, after_create=after_create)
        self.inject(Target.SUBMIT, fault, count)

    def fail_polls(
        self,
        status: int,
        count: int = 1,
        *,
        body: dict[str, Any] | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.inject(Target.POLL, HttpFault(status=status, body=body, retry_after=retry_after), count)

    def hang(
        self, target: Target, count: int = 1, seconds: float | None = None, *, after_create: bool = False
    ) -> None:
        self.inject(target, HangFault(seconds=seconds, after_create=after_create), count)

    def fail_tasks(self, code: int, message: str | None = None, count: int = 1) -> None:
        """The next `count` submitted tasks run, then end `failed` with `code`."""
        self._task_failures.extend([TaskFailure(code=code, message=message)] * count)

    def slow_tasks(self, seconds: float, count: int = 1) -> None:
        """The next `count` submitted tasks process for `seconds` instead of the configured time."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self._slow_tasks.extend([seconds] * count)

    def time_out_syncs(self, count: int = 1) -> None:
        """The next `count` sync submits answer 5004 at once while the task goes on."""
        self._sync_timeouts += count

    def next_fault(self, target: Target) -> HttpFault | HangFault | None:
        queue = self._faults[target]
        return queue.popleft() if queue else None

    def next_task_failure(self) -> TaskFailure | None:
        return self._task_failures.popleft() if self._task_failures else None

    def next_task_seconds(self) -> float | None:
        return self._slow_tasks.popleft() if self._slow_tasks else None

    def next_sync_timeout(self) -> bool:
        if self._sync_timeouts == 0:
            return False
        self._sync_timeouts -= 1
        return True

    def pending(self) -> PendingFaults:
        return PendingFaults(
            faults={target: list(queue) for target, queue in self._faults.items()},
            task_failures=list(self._task_failures),
            slow_tasks=list(self._slow_tasks),
            sync_timeouts=self._sync_timeouts,
        )

    def clear(self) -> None:
        for queue in self._faults.values():
            queue.clear()
        self._task_failures.clear()
        self._slow_tasks.clear()
        self._sync_timeouts = 0
