"""One face swap at WaveSpeed under a provider slot: submit (or resume), poll, retry 5xxx tasks.

The slot covers the time a task is in flight at WaveSpeed, from submit until its status is final;
input uploads happen before and the output download after, so the account's slots stay busy with
provider work only. Every submit also takes one of the account's task starts (submission.py).
Every poll is preceded by a pause of at least the poll interval, a resumed task's first poll
included, so no two polls of a task come closer than that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from medialab_contracts.events import FailureReason
from medialab_runtime.backoff import retry_delay
from medialab_runtime.eta import OnQueued, RecentDurations, slot_waiter
from medialab_runtime.http_retry import Transient
from medialab_runtime.slots import SlotPool, SlotTimeout
from medialab_runtime.start_rate import OnStartWait, StartTimeout

from wavespeed_runner.api import TERMINAL_STATUSES, Prediction, WaveSpeedClient
from wavespeed_runner.errors import TaskOutcome, WaveSpeedRejected, task_outcome
from wavespeed_runner.metrics import POLLS, PROVIDER_SECONDS, RETRIES
from wavespeed_runner.submission import Submitter

log = logging.getLogger(__name__)

_KNOWN_STATUSES = frozenset({"created", "processing", *TERMINAL_STATUSES})

OnSubmitted = Callable[["Submitted"], Awaitable[None]]
OnStatus = Callable[[Prediction], Awaitable[None]]


class DeadlineExceeded(Exception):
    """The job's time ran out: at WaveSpeed, or (``waiting``) before WaveSpeed had room for it."""

    def __init__(self, detail: str, *, waiting: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.waiting = waiting


class TaskFailed(Exception):
    """The task ended without an output and another try would not help (or tries ran out)."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PollPolicy:
    """Pause ``max(interval, ratio × elapsed)`` before each poll, at most ``max_s``."""

    interval_s: float = 2.0
    max_s: float = 10.0
    ratio: float = 0.1

    def next_delay(self, elapsed: float) -> float:
        return min(self.max_s, max(self.interval_s, self.ratio * elapsed))


@dataclass(frozen=True)
class TaskPolicy:
    """How often a task failed on WaveSpeed's side (5xxx) is submitted again, and how far apart."""

    attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 15.0


@dataclass(frozen=True)
class Submitted:
    """A task in flight; what a later delivery of the job needs to carry on with it."""

    task_id: str
    attempt: int  # tasks submitted for this job so far, this one included
    submitted_at: float  # wall clock, so time at the provider adds up across deliveries


@dataclass(frozen=True)
class SwapDone:
    output: str
    task_id: str
    provider_ms: int


async def _nothing(_: Prediction) -> None:
    return None


def _why_not(task: Submitted, final: Prediction | None) -> tuple[str, TaskOutcome]:
    """Why a task gave no output (``final`` None: WaveSpeed forgot it), as a metric cause and an outcome."""
    if final is None:
        detail = f"task {task.task_id} unknown to WaveSpeed"
        return "unknown_task", TaskOutcome(FailureReason.provider_error, True, detail)
    return f"task_{final.code or final.status}", task_outcome(final.status, final.code, final.error)


class WaveSpeedExecutor:
    def __init__(
        self,
        client: WaveSpeedClient,
        slots: SlotPool,
        submitter: Submitter,
        poll: PollPolicy,
        tasks: TaskPolicy,
    ) -> None:
        self.client = client
        self.slots = slots
        self._submitter = submitter
        self._poll = poll
        self._tasks = tasks
        self._holds = RecentDurations()  # slot-hold times per model: what a turn in our queue takes

    async def run(
        self,
        model_id: str,
        arguments: dict[str, Any],
        *,
        deadline: float,
        resume: Submitted | None = None,
        on_submitted: OnSubmitted,
        on_status: OnStatus = _nothing,
        on_position: OnQueued | None = None,
    ) -> SwapDone:
        """Raises ``TaskFailed``, ``WaveSpeedError`` (final HTTP answers) or ``DeadlineExceeded``.
        ``on_position`` hears the job's place in our queue (0 = next) and an estimate of the seconds
        until its result while it waits for a task start or a slot of the account."""
        try:
            if resume is None:
                # Wait for a free start before the slot and take it under the slot, right before the
                # request. Taking it before the slot would stamp a start while we still wait for a
                # slot: the request could then come much later than its stamp and bunch up with
                # later starts inside one window, which WaveSpeed refuses. Waiting for it while
                # holding the slot would keep an in-progress place idle for up to a whole window.
                await self._submitter.ready(
                    deadline - time.monotonic(), self._start_waiter(model_id, on_position)
                )
            parallel = sum(account.limit for account in self.slots.accounts)
            async with self.slots.hold(
                deadline - time.monotonic(), None, slot_waiter(self._holds, model_id, parallel, on_position)
            ):
                started = time.monotonic()
                done = await self._run(model_id, arguments, deadline, resume, on_submitted, on_status)
                if resume is None:
                    self._holds.observe(model_id, time.monotonic() - started)
                return done
        except SlotTimeout:
            raise DeadlineExceeded("no WaveSpeed slot free before the deadline", waiting=True) from None
        except StartTimeout as error:
            detail = f"no WaveSpeed task start free before the deadline: {error}"
            raise DeadlineExceeded(detail, waiting=True) from None

    def _start_waiter(self, model_id: str, on_queued: OnQueued | None) -> OnStartWait | None:
        if on_queued is None:
            return None

        async def on_wait(ahead: int, start_in_s: float) -> None:
            typical = self._holds.median(model_id)
            await on_queued(ahead, None if typical is None else start_in_s + typical)

        return on_wait

    async def _run(
        self,
        model_id: str,
        arguments: dict[str, Any],
        deadline: float,
        task: Submitted | None,
        on_submitted: OnSubmitted,
        on_status: OnStatus,
    ) -> SwapDone:
        attempts = task.attempt if task is not None else 0
        while True:
            if task is None:
                attempts += 1
                prediction = await self._submitter.submit(model_id, arguments, deadline)
                task = Submitted(prediction.task_id, attempts, time.time())
                await on_submitted(task)
            else:
                log.info("polling WaveSpeed task %s (attempt %d)", task.task_id, task.attempt)
            try:
                final = await self._wait_final(task.task_id, deadline, on_status)
            except WaveSpeedRejected as error:
                if error.status != 404:
                    raise
                final = None  # WaveSpeed does not know the task (any more): submit it again
                log.warning("WaveSpeed does not know task %s", task.task_id)
            if final is not None and final.completed:
                provider_s = max(0.0, time.time() - task.submitted_at)
                PROVIDER_SECONDS.labels(model_id).observe(provider_s)
                if not final.outputs:
                    raise TaskFailed(FailureReason.provider_error, "task completed without an output")
                if not final.safe_outputs:
                    # The safety filter blanked the result: never deliver (or charge) it.
                    raise TaskFailed(FailureReason.moderation, "the output was flagged has_nsfw_contents")
                return SwapDone(final.safe_outputs[0], final.task_id, int(provider_s * 1000))
            cause, outcome = _why_not(task, final)
            if not outcome.retryable:
                raise TaskFailed(outcome.reason, outcome.detail)
            if attempts >= self._tasks.attempts:
                raise TaskFailed(outcome.reason, f"{outcome.detail} (after {attempts} tasks)")
            delay = retry_delay(attempts, self._tasks.backoff_base_s, self._tasks.backoff_max_s)
            if time.monotonic() + delay >= deadline:
                raise DeadlineExceeded(f"no time left to retry: {outcome.detail}")
            RETRIES.labels("task", cause).inc()
            log.warning("WaveSpeed task failed (%s); submitting again in %.1fs", outcome.detail, delay)
            await asyncio.sleep(delay)
            task = None

    async def _wait_final(self, task_id: str, deadline: float, on_status: OnStatus) -> Prediction:
        started = time.monotonic()
        failures = 0
        retry_after = 0.0
        while True:
            now = time.monotonic()
            delay = self._poll.next_delay(now - started)
            if failures:
                # Backing off after 429 / 5xx, never below the poll interval.
                backoff = retry_delay(failures, self._poll.interval_s, self._poll.max_s * 3)
                delay = max(delay, backoff, retry_after)
            if now + delay >= deadline:
                raise DeadlineExceeded("deadline passed while WaveSpeed was working")
            await asyncio.sleep(delay)
            try:
                prediction = await self.client.result(task_id, deadline)
            except Transient as failure:
                failures += 1
                retry_after = failure.retry_after
                POLLS.labels(failure.cause).inc()
                RETRIES.labels("poll", failure.cause).inc()
                log.info("poll of %s answered %s (failure %d)", task_id, failure.cause, failures)
                continue
            failures = 0
            POLLS.labels(prediction.status if prediction.status in _KNOWN_STATUSES else "other").inc()
            if prediction.terminal:
                return prediction
            await on_status(prediction)
