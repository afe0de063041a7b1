"""`/_emu/...`: knobs and records over HTTP, for tests and launchers in another process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from medialab_sandbox.wavespeed.api import api_error
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.control_models import (
    CountRequest,
    EmulatorState,
    FaultRequest,
    LimitsRequest,
    SlowTasksRequest,
    TaskFailureRequest,
    TaskView,
)
from medialab_sandbox.wavespeed.faults import Target, TaskFailure
from medialab_sandbox.wavespeed.records import (
    DownloadRecord,
    PollRecord,
    SubmitRecord,
    UploadRecord,
)

if TYPE_CHECKING:
    from medialab_sandbox.wavespeed.emulator import WaveSpeedEmulator

CONTROL_PREFIX = "/_emu"


def control_router(emu: WaveSpeedEmulator) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX)

    @router.get("/state")
    async def state() -> EmulatorState:
        return emu.state()

    @router.patch("/config")
    async def configure(changes: Annotated[dict[str, Any], Body()]) -> EmulatorConfig:
        try:
            emu.configure(**changes)
        except ValidationError as exc:
            raise api_error(400, f"Invalid config: {exc.errors(include_url=False)}") from exc
        return emu.config

    @router.post("/limits")
    async def limits(ask: LimitsRequest) -> EmulatorState:
        if ask.account is not None and ask.account not in emu.account_names:
            raise api_error(404, f"No account {ask.account!r}")
        emu.set_limits(
            ask.account,
            max_concurrency=ask.max_concurrency,
            starts_per_minute=ask.starts_per_minute,
        )
        return emu.state()

    @router.post("/faults/{target}")
    async def inject(target: Target, ask: FaultRequest) -> EmulatorState:
        try:
            emu.faults.inject(target, ask.fault, ask.count)
        except ValueError as exc:
            raise api_error(400, str(exc)) from exc
        return emu.state()

    @router.post("/task-failures")
    async def task_failures(ask: TaskFailureRequest) -> EmulatorState:
        emu.faults.fail_tasks(ask.code, ask.message, ask.count)
        return emu.state()

    @router.post("/slow-tasks")
    async def slow_tasks(ask: SlowTasksRequest) -> EmulatorState:
        emu.faults.slow_tasks(ask.seconds, ask.count)
        return emu.state()

    @router.post("/sync-timeouts")
    async def sync_timeouts(ask: CountRequest) -> EmulatorState:
        emu.faults.time_out_syncs(ask.count)
        return emu.state()

    @router.post("/tasks/{task_id}/fail")
    async def fail_task(task_id: str, failure: TaskFailure) -> TaskView:
        if not emu.fail_task(task_id, failure.code, failure.message):
            raise api_error(409, f"Task {task_id} is unknown or already over")
        return _task(emu, task_id)

    @router.post("/hold")
    async def hold() -> EmulatorState:
        emu.hold()
        return emu.state()

    @router.post("/release")
    async def release() -> EmulatorState:
        emu.release()
        return emu.state()

    @router.post("/reset")
    async def reset() -> EmulatorState:
        await emu.reset()
        return emu.state()

    @router.get("/submits")
    async def submits() -> list[SubmitRecord]:
        return emu.records.submits

    @router.get("/polls")
    async def polls(task_id: str | None = None) -> list[PollRecord]:
        return [p for p in emu.records.polls if task_id is None or p.task_id == task_id]

    @router.get("/uploads")
    async def uploads() -> list[UploadRecord]:
        return emu.records.uploads

    @router.get("/downloads")
    async def downloads() -> list[DownloadRecord]:
        return emu.records.downloads

    @router.get("/tasks")
    async def tasks() -> list[TaskView]:
        return emu.tasks()

    @router.get("/tasks/{task_id}")
    async def task(task_id: str) -> TaskView:
        return _task(emu, task_id)

    return router


def _task(emu: WaveSpeedEmulator, task_id: str) -> TaskView:
    view = emu.task(task_id)
    if view is None:
        raise api_error(404, "Task not found")
    return view
