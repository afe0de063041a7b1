"""Prediction tasks and their lifecycle: created → (queued for a slot) → processing → terminal."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medialab_sandbox.wavespeed.accounts import Account
from medialab_sandbox.wavespeed.codes import TaskErrorCode
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.faults import TaskFailure
from medialab_sandbox.wavespeed.images import MIME_TYPES, UnreadableImage, swap_face
from medialab_sandbox.wavespeed.records import Recorder
from medialab_sandbox.wavespeed.schemas import (
    FaceSwapProInput,
    PredictionData,
    TaskStatus,
    Timings,
    Urls,
)
from medialab_sandbox.wavespeed.uploads import MediaAccessError, MediaStore

log = logging.getLogger(__name__)


def wire_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, like `2025-09-29T23:09:43.027Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(eq=False)
class Task:
    account: str
    model: str
    body: dict[str, Any]
    input: FaceSwapProInput | None
    base_url: str
    own_hosts: frozenset[str]
    processing_seconds: float
    failure: TaskFailure | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created_mono: float = field(default_factory=time.monotonic)
    status: TaskStatus = TaskStatus.CREATED
    started_mono: float | None = None
    finished_mono: float | None = None
    outputs: list[str] = field(default_factory=list)
    error: str = ""
    code: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def result_url(self) -> str:
        return f"{self.base_url}/api/v3/predictions/{self.id}/result"

    def data(
        self,
        *,
        status: TaskStatus | None = None,
        code: int | None = None,
        error: str | None = None,
    ) -> PredictionData:
        """The wire `data` object; the overrides serve the sync-timeout answer."""
        inference = execution = 0
        if self.finished_mono is not None:
            execution = round((self.finished_mono - self.created_mono) * 1000)
            inference = round((self.finished_mono - (self.started_mono or self.created_mono)) * 1000)
        return PredictionData(
            id=self.id,
            model=self.model,
            outputs=list(self.outputs),
            urls=Urls(get=self.result_url),
            has_nsfw_contents=[False] * len(self.outputs),
            status=status or self.status,
            created_at=wire_time(self.created_at),
            error=self.error if error is None else error,
            execution_time=execution,
            timings=Timings(inference=inference),
            code=self.code if code is None else code,
        )


class TaskEngine:
    """Runs every task as an asyncio task on the emulator's loop."""

    def __init__(self, config: EmulatorConfig, recorder: Recorder, media: MediaStore) -> None:
        self._config = config
        self._recorder = recorder
        self._media = media
        self.tasks: dict[str, Task] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._released = asyncio.Event()
        self._released.set()
        # Set to let go of every hanging request and sync wait (on reset and on stop).
        self._interrupt = asyncio.Event()
        self.closed = False

    def start(self, task: Task, account: Account) -> None:
        self.tasks[task.id] = task
        self._recorder.counts["tasks_created"] += 1
        worker = asyncio.create_task(self._run(task, account), name=f"wavespeed-task-{task.id}")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    def hold(self) -> None:
        """Processing tasks stop short of finishing until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    @property
    def held(self) -> bool:
        return not self._released.is_set()

    def fail(self, task_id: str, failure: TaskFailure) -> bool:
        """Make a task that has not ended yet end `failed`; False if unknown or already over."""
        task = self.tasks.get(task_id)
        if task is None or task.status.terminal:
            return False
        task.failure = failure
        return True

    async def wait_done(self, task: Task, timeout: float | None) -> bool:
        """True once the task ended; False on timeout, reset or stop."""
        await self._wait(task.done, timeout)
        return task.done.is_set()

    async def pause(self, seconds: float | None) -> None:
        """Sleep `seconds` (None: until reset or stop)."""
        await self._wait(asyncio.Event(), seconds)

    async def reset(self) -> None:
        """Drop every task (running ones are cancelled) and let go of waiting requests."""
        await self._cancel_workers()
        self.tasks.clear()
        self.release()

    async def close(self) -> None:
        self.closed = True
        await self._cancel_workers()

    async def _cancel_workers(self) -> None:
        self._interrupt.set()
        self._interrupt = asyncio.Event()
        for worker in list(self._workers):
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _wait(self, event: asyncio.Event, timeout: float | None) -> None:
        waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._interrupt.wait())}
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _run(self, task: Task, account: Account) -> None:
        await asyncio.sleep(self._config.created_seconds)
        async with account.slots.slot():
            task.status = TaskStatus.PROCESSING
            task.started_mono = time.monotonic()
            self._recorder.task_started(account.name)
            try:
                await asyncio.sleep(task.processing_seconds)
                await self._released.wait()
                await self._finish(task)
            finally:
                self._recorder.task_finished(account.name)

    async def _finish(self, task: Task) -> None:
        outcome = await self._outcome(task)
        task.finished_mono = time.monotonic()
        # A failure ordered through a knob while the image was being made still wins.
        if task.failure is not None:
            outcome = task.failure
        if isinstance(outcome, TaskFailure):
            task.status, task.code, task.error = TaskStatus.FAILED, outcome.code, outcome.error
            self._recorder.counts["tasks_failed"] += 1
        else:
            task.outputs = [outcome]
            task.status = TaskStatus.COMPLETED
            self._recorder.counts["tasks_completed"] += 1
        log.debug("task %s ended %s", task.id, task.status)
        task.done.set()

    async def _outcome(self, task: Task) -> str | TaskFailure:
        """The single output (URL or naked base64), or why the task fails."""
        params = task.input
        if task.failure is not None or params is None:
            return task.failure or TaskFailure(code=TaskErrorCode.INVALID_PARAMETER)
        try:
            target = self._media.resolve(params.image, task.own_hosts)
            face = self._media.resolve(params.face_image, task.own_hosts)
            # Pillow work leaves the loop so polls keep being answered meanwhile.
            output = await asyncio.to_thread(swap_face, target, face, params.output_format)
        except MediaAccessError:
            return TaskFailure(code=TaskErrorCode.MEDIA_ACCESS_FAILED)
        except UnreadableImage:
            return TaskFailure(
                code=TaskErrorCode.INVALID_PARAMETER, message="Input image could not be decoded."
            )
        if params.enable_base64_output:
            return base64.b64encode(output).decode("ascii")
        fmt = params.output_format
        media = self._media.add(f"{task.id}.{fmt}", MIME_TYPES[fmt], output)
        return f"{task.base_url}{media.path}"
