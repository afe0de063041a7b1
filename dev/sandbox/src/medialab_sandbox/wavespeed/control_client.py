"""Drive an emulator in another process (the dev launcher's sandbox) through `/_emu`."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from medialab_sandbox.lifecycle import Closable
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.control_api import CONTROL_PREFIX
from medialab_sandbox.wavespeed.control_models import (
    CountRequest,
    EmulatorState,
    FaultRequest,
    LimitsRequest,
    SlowTasksRequest,
    TaskFailureRequest,
    TaskView,
)
from medialab_sandbox.wavespeed.faults import HangFault, HttpFault, Target, TaskFailure
from medialab_sandbox.wavespeed.records import (
    DownloadRecord,
    PollRecord,
    SubmitRecord,
    UploadRecord,
)

T = TypeVar("T")


class WaveSpeedEmulatorControl(Closable):
    """Mirror of the in-process knobs and records of `WaveSpeedEmulator`, over HTTP."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + CONTROL_PREFIX, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- knobs -------------------------------------------------------------------------------

    async def configure(self, **changes: Any) -> EmulatorConfig:
        return await self._call("PATCH", "/config", EmulatorConfig, json=changes)

    async def set_limits(
        self,
        account: str | None = None,
        *,
        max_concurrency: int | None = None,
        starts_per_minute: int | None = None,
    ) -> EmulatorState:
        ask = LimitsRequest(
            account=account, max_concurrency=max_concurrency, starts_per_minute=starts_per_minute
        )
        return await self._post("/limits", ask)

    async def inject(self, target: Target, fault: HttpFault | HangFault, count: int = 1) -> EmulatorState:
        return await self._post(f"/faults/{target}", FaultRequest(fault=fault, count=count))

    async def fail_submits(
        self,
        status: int,
        count: int = 1,
        *,
        body: dict[str, Any] | str | None = None,
        retry_after: float | None = None,
        after_create: bool = False,
    ) -> EmulatorState:
        fault = HttpFault(status=status, body=body, retry_after=retry_after, after_create=after_create)
        return await self.inject(Target.SUBMIT, fault, count)

    async def fail_polls(
        self,
        status: int,
        count: int = 1,
        *,
        body: dict[str, Any] | str | None = None,
        retry_after: float | None = None,
    ) -> EmulatorState:
        fault = HttpFault(status=status, body=body, retry_after=retry_after)
        return await self.inject(Target.POLL, fault, count)

    async def hang(
        self, target: Target, count: int = 1, seconds: float | None = None, *, after_create: bool = False
    ) -> EmulatorState:
        return await self.inject(target, HangFault(seconds=seconds, after_create=after_create), count)

    async def fail_tasks(self, code: int, message: str | None = None, count: int = 1) -> EmulatorState:
        ask = TaskFailureRequest(code=code, message=message, count=count)
        return await self._post("/task-failures", ask)

    async def slow_tasks(self, seconds: float, count: int = 1) -> EmulatorState:
        return await self._post("/slow-tasks", SlowTasksRequest(seconds=seconds, count=count))

    async def time_out_syncs(self, count: int = 1) -> EmulatorState:
        return await self._post("/sync-timeouts", CountRequest(count=count))

    async def fail_task(self, task_id: str, code: int, message: str | None = None) -> TaskView:
        failure = TaskFailure(code=code, message=message)
        return await self._call(
            "POST", f"/tasks/{task_id}/fail", TaskView, json=failure.model_dump(mode="json")
        )

    async def hold(self) -> EmulatorState:
        return await self._call("POST", "/hold", EmulatorState)

    async def release(self) -> EmulatorState:
        return await self._call("POST", "/release", EmulatorState)

    async def reset(self) -> EmulatorState:
        return await self._call("POST", "/reset", EmulatorState)

    # -- records -----------------------------------------------------------------------------

    async def state(self) -> EmulatorState:
        return await self._call("GET", "/state", EmulatorState)

    async def submits(self) -> list[SubmitRecord]:
        return await self._call("GET", "/submits", list[SubmitRecord])

    async def polls(self, task_id: str | None = None) -> list[PollRecord]:
        params = {"task_id": task_id} if task_id is not None else None
        return await self._call("GET", "/polls", list[PollRecord], params=params)

    async def poll_times(self, task_id: str) -> list[float]:
        return [poll.at for poll in await self.polls(task_id)]

    async def uploads(self) -> list[UploadRecord]:
        return await self._call("GET", "/uploads", list[UploadRecord])

    async def downloads(self) -> list[DownloadRecord]:
        return await self._call("GET", "/downloads", list[DownloadRecord])

    async def tasks(self) -> list[TaskView]:
        return await self._call("GET", "/tasks", list[TaskView])

    async def task(self, task_id: str) -> TaskView:
        return await self._call("GET", f"/tasks/{task_id}", TaskView)

    # -- plumbing ----------------------------------------------------------------------------

    async def _post(self, path: str, ask: BaseModel) -> EmulatorState:
        return await self._call("POST", path, EmulatorState, json=ask.model_dump(mode="json"))

    async def _call(self, method: str, path: str, answer: type[T], **kwargs: Any) -> T:
        response = await self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return TypeAdapter(answer).validate_json(response.content)
