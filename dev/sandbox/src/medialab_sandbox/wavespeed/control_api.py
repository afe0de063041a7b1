"""`/_emu/...`: knobs and records over HTTP, for tests and launchers in another process."""

from __future__ import annotations

from typing import Annotated, Any

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
from medialab_sandbox.wavespeed.deps import Emulator
from medialab_sandbox.wavespeed.emulator import WaveSpeedBackend
from medialab_sandbox.wavespeed.faults import Target, TaskFailure
from medialab_sandbox.wavespeed.records import (
    DownloadRecord,
    PollRecord,
    SubmitRecord,
    UploadRecord,
)

CONTROL_PREFIX = "/_emu"


control_router = APIRouter(prefix=CONTROL_PREFIX)


@control_router.get("/state")
async def state(emu: Emulator) -> EmulatorState:
    return emu.state()


@control_router.patch("/config")
async def configure(changes: Annotated[dict[str, Any], Body()], emu: Emulator) -> EmulatorConfig:
    try:
        emu.configure(**changes)
    except ValidationError as exc:
        raise api_error(400, f"Invalid config: {exc.errors(include_url=False)}") from exc
    return emu.config


@control_router.post("/limits")
async def limits(ask: LimitsRequest, emu: Emulator) -> EmulatorState:
    if ask.account is not None and ask.account not in emu.account_names:
        raise api_error(404, f"No account {ask.account!r}")
    emu.set_limits(
        ask.account,
        max_concurrency=ask.max_concurrency,
        starts_per_minute=ask.starts_per_minute,
    )
    return emu.state()


@control_router.post("/faults/{target}")
async def inject(target: Target, ask: FaultRequest, emu: Emulator) -> EmulatorState:
    try:
        emu.faults.inject(target, ask.fault, ask.count)
    except ValueError as exc:
        raise api_error(400, str(exc)) from exc
    return emu.state()


@control_router.post("/task-failures")
async def task_failures(ask: TaskFailureRequest, emu: Emulator) -> EmulatorState:
    emu.faults.fail_tasks(ask.code, ask.message, ask.count)
    return emu.state()


@control_router.post("/slow-tasks")
async def slow_tasks(ask: SlowTasksRequest, emu: Emulator) -> EmulatorState:
    emu.faults.slow_tasks(ask.seconds, ask.count)
    return emu.state()


@control_router.post("/sync-timeouts")
async def sync_timeouts(ask: CountRequest, emu: Emulator) -> EmulatorState:
    emu.faults.time_out_syncs(ask.count)
    return emu.state()


@control_router.post("/tasks/{task_id}/fail")
async def fail_task(task_id: str, failure: TaskFailure, emu: Emulator) -> TaskView:
    if not emu.fail_task(task_id, failure.code, failure.message):
        raise api_error(409, f"Task {task_id} is unknown or already over")
    return _task(emu, task_id)


@control_router.post("/hold")
async def hold(emu: Emulator) -> EmulatorState:
    emu.hold()
    return emu.state()


@control_router.post("/release")
async def release(emu: Emulator) -> EmulatorState:
    emu.release()
    return emu.state()


@control_router.post("/reset")
async def reset(emu: Emulator) -> EmulatorState:
    await emu.reset()
    return emu.state()


@control_router.get("/submits")
async def submits(emu: Emulator) -> list[SubmitRecord]:
    return emu.records.submits


@control_router.get("/polls")
async def polls(emu: Emulator, task_id: str | None = None) -> list[PollRecord]:
    return [p for p in emu.records.polls if task_id is None or p.task_id == task_id]


@control_router.get("/uploads")
async def uploads(emu: Emulator) -> list[UploadRecord]:
    return emu.records.uploads


@control_router.get("/downloads")
async def downloads(emu: Emulator) -> list[DownloadRecord]:
    return emu.records.downloads


@control_router.get("/tasks")
async def tasks(emu: Emulator) -> list[TaskView]:
    return emu.tasks()


@control_router.get("/tasks/{task_id}")
async def task(task_id: str, emu: Emulator) -> TaskView:
    return _task(emu, task_id)


def _task(emu: WaveSpeedBackend, task_id: str) -> TaskView:
    view = emu.task(task_id)
    if view is None:
        raise api_error(404, "Task not found")
    return view
