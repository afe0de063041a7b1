"""The request queue: IN_QUEUE → IN_PROGRESS → COMPLETED per request, per-account limits, cancel.

Each accepted request gets one asyncio task that waits its queue time, waits for a free slot of
its account (``concurrency_limit``; fal counts IN_PROGRESS requests per account, and a key not
assigned to an account is an account of its own), stays IN_PROGRESS for its run time and then
stores the model's outcome. Requests over the limit wait in a FIFO per account and report their
real position.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from medialab_sandbox.fal.errors import ErrorReply, cancelled, infra_error, request_timeout_user
from medialab_sandbox.fal.recorder import Recorder

logger = logging.getLogger(__name__)

# Namespaces whose ids carry one extra leading segment before owner/app (fal.md §2).
_NAMESPACES = ("workflows", "comfy")


def app_id(model_id: str) -> str:
    """``owner/app`` of a model id: status, result and cancel live under it, not the full id."""
    parts = model_id.strip("/").split("/")
    width = 3 if parts[0] in _NAMESPACES else 2
    return "/".join(parts[:width])


class JobStatus(StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class Outcome:
    """What the result endpoint replays: the model's status code, body and headers."""

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None

    @classmethod
    def success(cls, body: dict[str, Any]) -> Outcome:
        return cls(status_code=200, body=body)

    @classmethod
    def failure(cls, reply: ErrorReply) -> Outcome:
        return cls(
            status_code=reply.status_code,
            body=reply.body,
            headers=reply.headers,
            error=reply.message,
            error_type=reply.error_type,
        )

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(eq=False)
class Job:
    request_id: str
    key: str
    model_id: str
    body: dict[str, Any]
    webhook_url: str | None
    queue_seconds: float
    run_seconds: float
    forced_error: ErrorReply | None
    start_timeout: float | None
    status: JobStatus = JobStatus.IN_QUEUE
    ready: bool = False
    outcome: Outcome | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    completed_at: float | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    status_polls: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def app_id(self) -> str:
        return app_id(self.model_id)

    @property
    def inference_time(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return self.completed_at - self.started_at

    def log(self, message: str, level: str = "INFO") -> None:
        self.logs.append(
            {
                "message": message,
                "level": level,
                "source": "USER",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )


Execute = Callable[[Job], Awaitable[Outcome]]
OnComplete = Callable[[Job], None]


class JobQueue:
    def __init__(self, recorder: Recorder, execute: Execute, on_complete: OnComplete) -> None:
        self._recorder = recorder
        self._execute = execute
        self._on_complete = on_complete
        self.jobs: dict[str, Job] = {}
        self.limits: dict[str, int] = {}
        self.accounts: dict[str, str] = {}  # key → account
        self._waiting: dict[str, list[Job]] = {}
        self._running: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(
        self,
        *,
        key: str,
        model_id: str,
        body: dict[str, Any],
        webhook_url: str | None,
        queue_seconds: float,
        run_seconds: float,
        forced_error: ErrorReply | None,
        start_timeout: float | None,
    ) -> Job:
        job = Job(
            request_id=str(uuid.uuid4()),
            key=key,
            model_id=model_id,
            body=body,
            webhook_url=webhook_url,
            queue_seconds=queue_seconds,
            run_seconds=run_seconds,
            forced_error=forced_error,
            start_timeout=start_timeout,
        )
        self.jobs[job.request_id] = job
        self._waiting.setdefault(self.account(key), []).append(job)
        self._recorder.request_accepted(self.account(key))
        self._tasks[job.request_id] = asyncio.create_task(
            self._lifecycle(job), name=f"fal-emu-job-{job.request_id}"
        )
        return job

    def account(self, key: str) -> str:
        return self.accounts.get(key, key)

    def queue_position(self, job: Job) -> int:
        """0-based place among this account's requests that have not started yet."""
        waiting = self._waiting.get(self.account(job.key), [])
        return waiting.index(job) if job in waiting else 0

    def waiting_count(self, key: str, model_id: str) -> int:
        waiting = self._waiting.get(self.account(key), [])
        return sum(1 for job in waiting if job.app_id == app_id(model_id))

    def set_limit(self, account: str, limit: int | None) -> None:
        """The in-progress limit of an account (or of a key that is its own account)."""
        if limit is None:
            self.limits.pop(account, None)
        else:
            self.limits[account] = limit
        self._dispatch(account)

    def cancel(self, job: Job) -> bool:
        """Stop a queued or running request at once; ``False`` if it had already completed."""
        if job.status is JobStatus.COMPLETED:
            return False
        task = self._tasks.get(job.request_id)
        if task is not None:
            task.cancel()
        job.log("Request cancelled", "WARN")
        self._finish(job, Outcome.failure(cancelled()))
        return True

    def cancel_all(self) -> None:
        for job in list(self.jobs.values()):
            self.cancel(job)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _lifecycle(self, job: Job) -> None:
        try:
            try:
                await asyncio.wait_for(self._wait_for_slot(job), timeout=job.start_timeout)
            except TimeoutError:
                self._finish(job, Outcome.failure(request_timeout_user()))
                return
            job.log(f"Running {job.model_id}")
            await asyncio.sleep(job.run_seconds)
            try:
                outcome = await self._execute(job)
            except Exception:
                logger.exception("fal emulator failed to run %s", job.model_id)
                outcome = Outcome.failure(infra_error(500))
            job.log("Completed" if outcome.ok else f"Failed: {outcome.error}")
            self._finish(job, outcome)
        finally:
            self._tasks.pop(job.request_id, None)

    async def _wait_for_slot(self, job: Job) -> None:
        await asyncio.sleep(job.queue_seconds)
        job.ready = True
        self._dispatch(self.account(job.key))
        await job.started.wait()

    def _dispatch(self, account: str) -> None:
        """Start ready requests of ``account`` in FIFO order while it has free slots."""
        limit = self.limits.get(account)
        for job in list(self._waiting.get(account, [])):
            if limit is not None and self._running.get(account, 0) >= limit:
                return
            if not job.ready:
                continue
            self._waiting[account].remove(job)
            job.status = JobStatus.IN_PROGRESS
            job.started_at = time.monotonic()
            self._running[account] = self._running.get(account, 0) + 1
            self._recorder.request_started(account)
            job.started.set()

    def _finish(self, job: Job, outcome: Outcome) -> None:
        if job.status is JobStatus.COMPLETED:
            return
        account = self.account(job.key)
        was_running = job.status is JobStatus.IN_PROGRESS
        if was_running:
            self._running[account] -= 1
        else:
            self._waiting[account].remove(job)
        job.status = JobStatus.COMPLETED
        job.outcome = outcome
        job.completed_at = time.monotonic()
        self._recorder.request_finished(account, was_running)
        job.done.set()
        self._dispatch(account)
        self._on_complete(job)
