"""The job-consumer loop every runner shares (fal-runner, wavespeed-runner, text-render).

A durable pull consumer on ``jobs.<runner>.>``. For each message:
- with a signing key, a message without billing's valid signature (``medialab_contracts.signing``), or
  a signed job on another subject than its own, is never run: ``term``, a warning and
  ``medialab_jobs_refused_total``, no event (nothing was reserved for it, so nobody waits for one);
- a payload that is not a valid ``JobRequest`` is poison: ``term`` (never retried);
- a job whose final event is already recorded (a redelivery after a crash) republishes that event,
  deduplicated on the stream, and is acked without touching the provider again;
- a job its owner cancelled before any runner started it (``JobState.start``) fails as ``cancelled``
  without touching the provider (billing released its hold when the cancel was asked);
- otherwise the handler runs under an ``in_progress()`` heartbeat and the job's deadline; it returns
  ``JobSucceeded``/``JobFailed`` or raises ``RetryLater`` (→ ``nak(delay)``; on the last allowed
  delivery it becomes ``failed(dead_letter)``);
- the final event is recorded in ``jobstate``, published, and only then is the message acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medialab_contracts import subjects
from medialab_contracts.events import (
    FailureReason,
    JobFailed,
    JobProgress,
    JobSucceeded,
    MediaOutput,
    parse_job_event,
)
from medialab_contracts.jobs import JobRequest
from medialab_contracts.signing import JOB_SIGNATURE_HEADER, job_signature_valid
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from medialab_runtime.backoff import retry_delay
from medialab_runtime.consumer_lag import report_consumer_lag
from medialab_runtime.durable import DurableConsumer
from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import JobState
from medialab_runtime.logs import job_context
from medialab_runtime.metrics import (
    JOB_DURATION,
    JOB_REDELIVERIES,
    JOBS_IN_FLIGHT,
    JOBS_PROCESSED,
    JOBS_REFUSED,
    MESSAGES,
)
from medialab_runtime.tasks import cancel_and_wait

log = logging.getLogger(__name__)

JobResult = JobSucceeded | JobFailed


class RetryLater(Exception):
    """A transient failure: hand the job back to the stream and try again after ``delay``."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


@dataclass(frozen=True)
class ConsumerSettings:
    durable: str
    filter_subject: str
    ack_wait_s: float = 30.0
    max_deliver: int = 5
    concurrency: int = 8
    progress_interval_s: float = 2.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0


@dataclass
class JobControl:
    """What a handler may do besides returning its result."""

    job: JobRequest
    attempt: int
    state: JobState
    _events: EventPublisher
    _progress_interval: float
    _started: float = field(default_factory=time.monotonic)
    _last_progress: float = 0.0
    _last_position: int | None = None
    _last_stage: str | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def remaining(self) -> float:
        return (self.job.deadline_at() - datetime.now(UTC)).total_seconds()

    async def progress(
        self, stage: str = "running", queue_position: int | None = None, eta_s: float | None = None
    ) -> None:
        """Publish a progress event, at most one per interval unless the stage or position changed."""
        now = time.monotonic()
        changed = queue_position != self._last_position or stage != self._last_stage
        if not changed and now - self._last_progress < self._progress_interval:
            return
        self._last_progress, self._last_position, self._last_stage = now, queue_position, stage
        try:
            await self._publish_progress(stage, queue_position, eta_s)
        except NatsError as error:
            # Progress only informs the user: one lost in a NATS election must not fail the job, which
            # would hand its provider slot back while the provider still works on the request.
            log.warning("progress of %s not published: %r", self.job.job_id, error)

    async def _publish_progress(self, stage: str, queue_position: int | None, eta_s: float | None) -> None:
        await self._events.publish(
            JobProgress(
                job_id=self.job.job_id,
                user_id=self.job.user_id,
                chat_id=self.job.chat_id,
                mode=self.job.mode,
                trace_id=self.job.trace_id,
                stage=stage,  # type: ignore[arg-type]
                queue_position=queue_position,
                elapsed_s=round(self.elapsed(), 3),
                eta_s=None if eta_s is None else round(eta_s, 1),
            )
        )

    async def remember(self, **fields: Any) -> None:
        await self.state.update(self.job.job_id, **fields)

    async def remember_handle(self, **fields: Any) -> None:
        """Remember a provider's handle of a submitted request, so a redelivery resumes it. With NATS
        away (an election), the request already runs at the provider and holds its slot: the job
        sees it through, and only this process dying before the end would submit it again."""
        try:
            await self.remember(**fields)
        except NatsError as error:
            log.warning("provider handle of %s not remembered: %r", self.job.job_id, error)

    async def recall(self) -> dict[str, Any]:
        return await self.state.get(self.job.job_id)

    async def cancel_requested(self) -> bool:
        """Whether the owner cancelled the job while it runs (the runner then stops it at the provider).
        Unknown while NATS is away (an election): not yet, and the runner asks again at its next poll."""
        try:
            return await self.state.cancel_requested(self.job.job_id)
        except NatsError as error:
            log.warning("cancel flag of %s not read: %r", self.job.job_id, error)
            return False

    def succeeded(
        self, outputs: list[MediaOutput], *, text: str | None = None, provider_ms: int = 0
    ) -> JobSucceeded:
        return JobSucceeded(
            job_id=self.job.job_id,
            user_id=self.job.user_id,
            chat_id=self.job.chat_id,
            mode=self.job.mode,
            trace_id=self.job.trace_id,
            outputs=outputs,
            text=text,
            provider_ms=provider_ms,
        )

    def failed(self, reason: FailureReason, detail: str = "") -> JobFailed:
        return failed_event(self.job, reason, detail)


def failed_event(job: JobRequest, reason: FailureReason, detail: str = "") -> JobFailed:
    return JobFailed(
        job_id=job.job_id,
        user_id=job.user_id,
        chat_id=job.chat_id,
        mode=job.mode,
        trace_id=job.trace_id,
        reason=reason,
        detail=detail[:500],
    )


JobHandler = Callable[[JobRequest, JobControl], Awaitable[JobResult]]


@contextlib.asynccontextmanager
async def heartbeat(msg: Msg, every: float) -> AsyncIterator[None]:
    """Keep telling JetStream the job is alive while a provider call runs."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        await cancel_and_wait([task])


class JobConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        service: str,
        settings: ConsumerSettings,
        handler: JobHandler,
        events: EventPublisher,
        state: JobState,
        signing_key: bytes | None = None,
    ) -> None:
        """``signing_key``: run only jobs billing signed with it; None runs every job (no check)."""
        self._js = js
        self._signing_key = signing_key
        self._service = service
        self._settings = settings
        self._handler = handler
        self._events = events
        self._state = state
        self._consumer = DurableConsumer(js, subjects.JOBS_STREAM, self.consumer_config())

    def consumer_config(self) -> ConsumerConfig:
        s = self._settings
        return ConsumerConfig(
            durable_name=s.durable,
            filter_subject=s.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.ack_wait_s,
            max_deliver=s.max_deliver,
            max_ack_pending=max(1000, s.concurrency * 4),
        )

    async def ensure_consumer(self) -> None:
        await self._consumer.ensure()

    async def run(self) -> None:
        lag = asyncio.create_task(
            report_consumer_lag(self._js, subjects.JOBS_STREAM, self._settings.durable, self._service)
        )
        try:
            await self._consumer.run(self._settings.concurrency, self._process_counted)
        finally:
            await cancel_and_wait([lag])

    async def stop(self, grace_s: float) -> None:
        """Stop fetching; let in-flight jobs finish within ``grace_s``, hand the rest back."""
        await self._consumer.stop(grace_s)

    async def _process_counted(self, msg: Msg) -> None:
        JOBS_IN_FLIGHT.labels(self._service).inc()
        try:
            await self.process(msg)
        finally:
            JOBS_IN_FLIGHT.labels(self._service).dec()

    async def process(self, msg: Msg) -> None:
        MESSAGES.labels(self._service, self._settings.filter_subject, "in").inc()
        if self._signing_key is not None and not job_signature_valid(
            self._signing_key, msg.data, (msg.headers or {}).get(JOB_SIGNATURE_HEADER)
        ):
            await self._refuse(msg, "unsigned", "no valid billing signature")
            return
        try:
            job = JobRequest.model_validate_json(msg.data)
        except ValidationError as error:
            log.error("poison job message on %s: %s", msg.subject, error.errors()[:1])
            await msg.term()
            return
        if self._signing_key is not None and msg.subject != job.subject:
            # The signature covers the bytes, not the subject: a copy of a signed job put on another
            # runner's subject would run there (another provider, other keys).
            await self._refuse(msg, "wrong_subject", f"signed for {job.subject}")
            return
        with job_context(job.job_id, job.trace_id):
            try:
                await self._process_job(msg, job)
            except Exception as error:
                # Recording, publishing or answering failed (NATS away): the message stays unacked and
                # comes back after ack_wait, where the recorded state lets the job resume.
                log.warning(
                    "job left unanswered (%s: %s); redelivered after ack_wait", type(error).__name__, error
                )

    async def _refuse(self, msg: Msg, reason: str, why: str) -> None:
        """Never run it, never answer it: billing reserved nothing for it, so nobody waits for an
        event, and an event would let a forger make the gateway talk to any chat."""
        log.warning(
            "job message on %s refused unrun (%s): %s; %d bytes", msg.subject, reason, why, len(msg.data)
        )
        JOBS_REFUSED.labels(self._service, reason).inc()
        await msg.term()

    async def _process_job(self, msg: Msg, job: JobRequest) -> None:
        attempt = msg.metadata.num_delivered
        if attempt > 1:
            JOB_REDELIVERIES.labels(self._service).inc()
        recorded = await self._state.final_event(job.job_id)
        if recorded is not None:
            log.info("job already finished; republishing its final event")
            await self._events.publish(parse_job_event(recorded))
            await msg.ack()
            return
        if await self._state.start(job.job_id):
            result = await self._run_handler(msg, job, attempt)
        else:
            log.info("job cancelled by its owner before it started; not run")
            result = failed_event(job, FailureReason.cancelled, "cancelled before it started")
        if result is None:
            return
        await self._state.set_final_event(job.job_id, result.model_dump_json())
        await self._events.publish(result)
        await msg.ack()
        outcome = "succeeded" if isinstance(result, JobSucceeded) else f"failed:{result.reason}"
        JOBS_PROCESSED.labels(self._service, job.mode, outcome).inc()
        JOB_DURATION.labels(self._service, job.mode).observe(
            (datetime.now(UTC) - job.created_at).total_seconds()
        )

    async def _run_handler(self, msg: Msg, job: JobRequest, attempt: int) -> JobResult | None:
        control = JobControl(job, attempt, self._state, self._events, self._settings.progress_interval_s)
        remaining = control.remaining()
        if remaining <= 0:
            return control.failed(FailureReason.timeout, "deadline passed before processing")
        last_attempt = attempt >= self._settings.max_deliver
        # Only this budget running out is the job's timeout. A TimeoutError raised inside the handler
        # is something else timing out (a NATS request while the server restarts, a KV or object
        # store call): a transient failure to retry, never a reason to fail a paid job as "timeout".
        budget = asyncio.timeout(remaining)
        try:
            async with heartbeat(msg, self._settings.ack_wait_s / 3), budget:
                return await self._handler(job, control)
        except RetryLater as retry:
            if last_attempt:
                return control.failed(FailureReason.dead_letter, f"gave up: {retry.reason}")
            delay = retry.delay
            if delay is None:
                delay = retry_delay(attempt, self._settings.backoff_base_s, self._settings.backoff_max_s)
            log.warning("retrying later (attempt %d, %.1fs): %s", attempt, delay, retry.reason)
            await msg.nak(delay=delay)
            return None
        except TimeoutError:
            if budget.expired():
                return control.failed(FailureReason.timeout, "deadline passed while processing")
            log.warning("a call timed out inside the handler (attempt %d)", attempt, exc_info=True)
            return await self._after_crash(msg, control, attempt, last_attempt)
        except Exception:
            log.exception("handler crashed (attempt %d)", attempt)
            return await self._after_crash(msg, control, attempt, last_attempt)

    async def _after_crash(
        self, msg: Msg, control: JobControl, attempt: int, last_attempt: bool
    ) -> JobResult | None:
        if last_attempt:
            return control.failed(FailureReason.dead_letter, "handler crashed on every attempt")
        await msg.nak(delay=retry_delay(attempt, self._settings.backoff_base_s, self._settings.backoff_max_s))
        return None
