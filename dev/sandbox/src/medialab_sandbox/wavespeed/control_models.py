"""Bodies of the `/_emu` control endpoints, shared by the server and the control client."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from medialab_sandbox.wavespeed.codes import AccountLimits
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.faults import Fault, PendingFaults, TaskFailure
from medialab_sandbox.wavespeed.schemas import TaskStatus


class FaultRequest(BaseModel):
    fault: Fault
    count: int = Field(default=1, ge=1)


class TaskFailureRequest(TaskFailure):
    count: int = Field(default=1, ge=1)


class SlowTasksRequest(BaseModel):
    seconds: float = Field(ge=0)
    count: int = Field(default=1, ge=1)


class CountRequest(BaseModel):
    count: int = Field(default=1, ge=1)


class LimitsRequest(BaseModel):
    account: str | None = Field(default=None, description="None: every account")
    max_concurrency: int | None = Field(default=None, ge=1)
    starts_per_minute: int | None = Field(default=None, ge=1)


class TaskView(BaseModel):
    id: str
    account: str
    model: str
    status: TaskStatus
    code: int | None
    error: str
    outputs: list[str]
    body: dict[str, Any]
    created_at: float = Field(description="monotonic time of the submit")
    started_at: float | None = Field(description="monotonic time processing began")
    finished_at: float | None


class AccountState(BaseModel):
    limits: AccountLimits
    processing: int
    max_processing_seen: int
    queued: int = Field(description="tasks `created` and waiting for a free slot")


class EmulatorState(BaseModel):
    config: EmulatorConfig
    accounts: dict[str, AccountState]
    processing: int
    max_processing_seen: int
    held: bool
    counts: dict[str, int]
    pending: PendingFaults
