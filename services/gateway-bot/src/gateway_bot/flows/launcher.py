"""Starting a paid job: translate if the model wants English, reserve, show the status, publish.

Nothing is reserved before every input check has passed; a failure after the reservation releases it.
M2 is special: the gateway itself calls ``llm.write_prompt`` and publishes the job's final event, so
billing settles it and delivery sends it exactly like any other job.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from medialab_contracts.catalog import DEFAULT_DEADLINE_S, ModelSpec
from medialab_contracts.errors import (
    LlmBadOutput,
    MediaLabError,
    ProviderBusy,
    ProviderRejected,
    ServiceUnavailable,
    Timeout,
)
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.jobs import MAX_PROMPT_CHARS, ImageSize, JobRequest
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_runtime.events import EventPublisher
from pydantic import BaseModel, ConfigDict

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.jobs import JobsClient
from gateway_bot.clients.llm import LlmClient
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.failures import TranslationFailed
from gateway_bot.metrics import JOBS_REFUSED, JOBS_STARTED

log = logging.getLogger(__name__)


class Order(BaseModel):
    """What the user asked for, before translation and pricing turn it into a ``JobRequest``.

    A pydantic model so that an order waiting for «✅ Запустить» can wait in the FSM data as JSON.
    """

    model_config = ConfigDict(frozen=True)

    mode: Mode
    model: ModelSpec
    user_id: int
    chat_id: int
    prompt: str = ""
    fixed_prompt: str = ""  # model-facing English text put before the user's words, never translated
    negative: str | None = None
    size: ImageSize | None = None
    aspect_ratio: str | None = None
    inputs: tuple[MediaRef, ...] = ()
    overlay_text: str | None = None
    style_wish: str | None = None


_LLM_FAILURES: tuple[tuple[type[MediaLabError], FailureReason], ...] = (
    (LlmBadOutput, FailureReason.provider_error),
    (ProviderRejected, FailureReason.provider_rejected),
    (ProviderBusy, FailureReason.provider_unavailable),
    (Timeout, FailureReason.timeout),
    (ServiceUnavailable, FailureReason.provider_unavailable),
)


def failure_reason(error: MediaLabError) -> FailureReason:
    for kind, reason in _LLM_FAILURES:
        if isinstance(error, kind):
            return reason
    return FailureReason.internal


class JobLauncher:
    def __init__(
        self,
        billing: BillingClient,
        jobs: JobsClient,
        llm: LlmClient,
        progress: ProgressBoard,
        events: EventPublisher,
    ) -> None:
        self._billing = billing
        self._jobs = jobs
        self._llm = llm
        self._progress = progress
        self._events = events

    async def _english(self, text: str) -> tuple[str, bool]:
        try:
            reply = await self._llm.translate(text)
        except MediaLabError as error:
            log.warning("translation failed: %s", error.code)
            JOBS_REFUSED.labels("translate").inc()
            raise TranslationFailed(error.code.value) from None
        return reply.text[:MAX_PROMPT_CHARS], reply.translated

    async def build(self, order: Order) -> tuple[JobRequest, str | None]:
        prompt, negative, note = order.prompt, order.negative, None
        if order.model.wants_english:
            if prompt:
                prompt, translated = await self._english(prompt)
                note = texts.TRANSLATED_NOTE if translated else None
            if negative:
                negative, _ = await self._english(negative)
        full_prompt = " ".join(part for part in (order.fixed_prompt, prompt) if part)[:MAX_PROMPT_CHARS]
        job = JobRequest(
            user_id=order.user_id,
            chat_id=order.chat_id,
            mode=order.mode,
            runner=order.model.runner,
            model_key=order.model.key,
            model_id=order.model.model_id,
            price=order.model.price,
            prompt=full_prompt,
            negative_prompt=negative,
            size=order.size,
            aspect_ratio=order.aspect_ratio,
            inputs=list(order.inputs),
            overlay_text=order.overlay_text,
            style_wish=order.style_wish,
            deadline_s=DEFAULT_DEADLINE_S[order.mode],
        )
        return job, note

    async def _reserve_and_show(self, bot: Bot, job: JobRequest, note: str | None) -> None:
        await self._billing.reserve(job)  # InsufficientFunds goes up to the errors router
        try:
            await self._progress.open(bot, job, note)
        except Exception:
            await self._release(job, "status_message_failed")
            raise

    async def _release(self, job: JobRequest, reason: str) -> None:
        try:
            await self._billing.release(job.job_id, reason)
        except MediaLabError:
            # billing's sweeper releases it at the deadline and tells the user
            log.exception("release of %s failed", job.job_id)

    async def launch(self, bot: Bot, order: Order) -> JobRequest:
        job, note = await self.build(order)
        await self._reserve_and_show(bot, job, note)
        try:
            await self._jobs.publish(job)
        except Exception:
            await self._release(job, "publish_failed")
            await self._progress.finalise(
                bot, job.job_id, texts.job_failed(job.mode, FailureReason.internal, job.job_id)
            )
            raise
        JOBS_STARTED.labels(job.mode.value).inc()
        log.info("job %s started: %s %s", job.job_id, job.mode, job.model_id)
        return job

    async def write_prompt(self, bot: Bot, order: Order) -> JobRequest:
        job, _ = await self.build(order)
        await self._reserve_and_show(bot, job, None)
        JOBS_STARTED.labels(job.mode.value).inc()
        common = {
            "job_id": job.job_id,
            "user_id": job.user_id,
            "chat_id": job.chat_id,
            "mode": job.mode,
            "trace_id": job.trace_id,
        }
        try:
            reply = await self._llm.write_prompt(order.prompt)
            event: JobSucceeded | JobFailed = JobSucceeded(**common, text=reply.prompt)
        except MediaLabError as error:
            log.warning("write_prompt for %s failed: %s", job.job_id, error.code)
            event = JobFailed(**common, reason=failure_reason(error), detail=error.code.value)
        await self._events.publish(event)
        return job
