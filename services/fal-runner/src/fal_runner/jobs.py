"""The handler of ``jobs.fal.*``: inputs → fal request under a slot → PNG outputs in ``media``.

A redelivered job never runs twice at fal: the request id is remembered right after submit, and a
later delivery polls that request (its result stays at fal for at least 6 minutes, far longer than
a redelivery takes) instead of submitting anew. Once the final event is recorded, the consumer loop
answers redeliveries from it without calling this handler at all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from medialab_contracts.events import FailureReason
from medialab_contracts.jobs import JobRequest
from medialab_runtime.eta import OnQueued
from medialab_runtime.images import ImageRejected
from medialab_runtime.jobs import JobControl, JobResult
from medialab_runtime.media_store import MediaNotFound
from medialab_runtime.provider_keys import ProviderKey

from fal_runner.arguments import ModelInputs, UnsupportedJob, model_inputs
from fal_runner.execution import (
    CancelledAtFal,
    CancelWanted,
    DeadlineExceeded,
    FalExecutor,
    FalResult,
    OnStatus,
    OnSubmitted,
    Resume,
)
from fal_runner.fal_api import FalError, QueueStatus, RequestGone, Submission
from fal_runner.inputs import InputUploader
from fal_runner.metrics import OUTCOMES
from fal_runner.outputs import OutputStore

log = logging.getLogger(__name__)

# Our own deadline comes this much before the job's, so a late request is cancelled at fal and
# reported as a timeout by us, not cut off mid-call by the consumer loop.
DEADLINE_MARGIN_S = 3.0


def _resume(state: dict[str, Any]) -> Resume | None:
    try:
        submission = Submission(
            request_id=state["fal_request_id"],
            status_url=state["fal_status_url"],
            response_url=state["fal_response_url"],
            cancel_url=state["fal_cancel_url"],
        )
        return Resume(submission, state["fal_key"])
    except KeyError:
        return None


class FalJobHandler:
    def __init__(
        self, executor: FalExecutor, inputs: InputUploader, outputs: OutputStore, *, cancel_running: bool
    ) -> None:
        self._executor = executor
        self._inputs = inputs
        self._outputs = outputs
        self._cancel_running = cancel_running

    async def _run(
        self,
        job: JobRequest,
        spec: ModelInputs,
        deadline: float,
        resume: Resume | None,
        on_submitted: OnSubmitted,
        on_status: OnStatus,
        on_position: OnQueued,
        cancel_wanted: CancelWanted | None,
    ) -> FalResult:
        """Poll the earlier delivery's request if there is one, else (or if fal forgot it) submit."""
        if resume is not None:
            log.info("resuming fal request %s", resume.submission.request_id)
            try:
                return await self._executor.run(
                    job.model_id,
                    {},
                    deadline=deadline,
                    resume=resume,
                    on_status=on_status,
                    on_position=on_position,
                    cancel_wanted=cancel_wanted,
                )
            except RequestGone as gone:
                log.warning("cannot resume (%s); submitting again", gone.detail)
        urls = await self._inputs.upload_all(
            job, png_only=spec.png_only, max_bytes=spec.max_bytes, deadline=deadline
        )
        return await self._executor.run(
            job.model_id,
            spec.build(job, urls),
            deadline=deadline,
            on_submitted=on_submitted,
            on_status=on_status,
            on_position=on_position,
            cancel_wanted=cancel_wanted,
        )

    async def __call__(self, job: JobRequest, control: JobControl) -> JobResult:
        result = await self._handle(job, control)
        OUTCOMES.labels("job", result.kind if result.kind == "succeeded" else result.reason).inc()
        return result

    async def _handle(self, job: JobRequest, control: JobControl) -> JobResult:
        state = await control.recall()
        try:
            spec = model_inputs(job)
        except UnsupportedJob as error:
            return control.failed(FailureReason.bad_input, str(error))
        if control.remaining() <= DEADLINE_MARGIN_S:
            return control.failed(FailureReason.timeout, "too little time left to call fal")
        deadline = time.monotonic() + control.remaining() - DEADLINE_MARGIN_S
        resume = _resume(state)

        async def on_submitted(submission: Submission, key: ProviderKey) -> None:
            await control.remember_handle(
                fal_request_id=submission.request_id,
                fal_status_url=submission.status_url,
                fal_response_url=submission.response_url,
                fal_cancel_url=submission.cancel_url,
                fal_key=key.fingerprint,
            )

        async def on_status(status: QueueStatus) -> None:
            if status.state == "IN_QUEUE":
                await control.progress("queued", status.queue_position)
            else:
                await control.progress("running")

        async def on_position(ahead: int, eta_s: float | None) -> None:
            # Waiting for a slot of the account: the user sees their place in our queue and an estimate.
            await control.progress("queued", ahead, eta_s)

        # FAL_CANCEL_RUNNING off: a job cancelled while at fal runs to its end, charged and delivered.
        cancel_wanted = control.cancel_requested if self._cancel_running else None
        try:
            done = await self._run(
                job, spec, deadline, resume, on_submitted, on_status, on_position, cancel_wanted
            )
            outputs = await self._outputs.store_all(job.job_id, done.body, deadline)
        except ImageRejected as error:
            return control.failed(error.reason, str(error))
        except MediaNotFound:
            return control.failed(FailureReason.input_gone, "an input image is not in the media store")
        except UnsupportedJob as error:
            return control.failed(FailureReason.bad_input, str(error))
        except FalError as error:
            log.warning("fal failed the job: %s (%s)", error.reason, error.detail)
            return control.failed(error.reason, error.detail)
        except CancelledAtFal as error:
            # fal ended it without a result: nothing to charge (fal.md §3.4: a cancelled queued
            # request never runs; a running one is stopped by its app).
            return control.failed(FailureReason.cancelled, str(error))
        except DeadlineExceeded as error:
            # Waiting in our queue for the account's slot means fal was busy, not that the job was slow.
            reason = FailureReason.provider_busy if error.waiting_for_slot else FailureReason.timeout
            return control.failed(reason, error.detail)
        return control.succeeded(outputs, provider_ms=done.provider_ms)
