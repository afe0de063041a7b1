"""The handler of ``jobs.wavespeed.*`` (M6): two inputs → uploads → a face-swap task → a PNG in ``media``.

``inputs == [face_source, target]``: the target photo is the model's ``image`` (the picture whose face
is replaced), the source face its ``face_image``.

A redelivered job never starts over at WaveSpeed. What each step produced is remembered in
``jobstate`` as soon as it exists: the uploaded input URLs, then the task id right after submit, then
the stored output. A later delivery (after a crash or a kill mid-poll) picks up from the last of
them: it polls the same task without a second upload or submit, or answers from the stored output.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from medialab_contracts.events import FailureReason
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode
from medialab_runtime.images import ImageRejected
from medialab_runtime.jobs import JobControl, JobResult
from medialab_runtime.media_store import MediaNotFound

from wavespeed_runner.api import Prediction
from wavespeed_runner.errors import WaveSpeedError
from wavespeed_runner.execution import DeadlineExceeded, Submitted, TaskFailed, WaveSpeedExecutor
from wavespeed_runner.inputs import InputUploader
from wavespeed_runner.metrics import OUTCOMES
from wavespeed_runner.outputs import OutputStore

log = logging.getLogger(__name__)

# Our own deadline comes this much before the job's, so running out of time is reported as a
# timeout by us, not cut off mid-call by the consumer loop.
DEADLINE_MARGIN_S = 3.0
OUTPUT_FORMAT = "png"


def arguments(face_url: str, target_url: str) -> dict[str, Any]:
    return {"image": target_url, "face_image": face_url, "output_format": OUTPUT_FORMAT}


def _remembered_inputs(state: dict[str, Any]) -> list[str] | None:
    urls = state.get("wavespeed_inputs")
    if isinstance(urls, list) and len(urls) == 2 and all(isinstance(u, str) and u for u in urls):
        return urls
    return None


def _remembered_task(state: dict[str, Any]) -> Submitted | None:
    task_id, attempt, at = (
        state.get(k) for k in ("wavespeed_task_id", "wavespeed_task_attempt", "wavespeed_submitted_at")
    )
    if isinstance(task_id, str) and task_id and isinstance(attempt, int) and isinstance(at, int | float):
        return Submitted(task_id, attempt, float(at))
    return None


class FaceSwapHandler:
    def __init__(
        self, executor: WaveSpeedExecutor, inputs: InputUploader, outputs: OutputStore, model_id: str
    ) -> None:
        self._executor = executor
        self._inputs = inputs
        self._outputs = outputs
        self._model_id = model_id

    async def __call__(self, job: JobRequest, control: JobControl) -> JobResult:
        result = await self._handle(job, control)
        OUTCOMES.labels(result.kind if result.kind == "succeeded" else result.reason).inc()
        return result

    async def _handle(self, job: JobRequest, control: JobControl) -> JobResult:
        state = await control.recall()
        stored = await self._outputs.recorded(state.get("output"))
        if stored is not None:
            log.info("output already stored by an earlier delivery")
            return control.succeeded([stored], provider_ms=int(state.get("provider_ms", 0)))
        if job.mode != Mode.faceswap or len(job.inputs) != 2:
            return control.failed(
                FailureReason.bad_input,
                f"expected a face swap with 2 inputs, got {job.mode} with {len(job.inputs)}",
            )
        deadline = time.monotonic() + control.remaining() - DEADLINE_MARGIN_S
        resume = _remembered_task(state)

        async def on_submitted(task: Submitted) -> None:
            await control.remember_handle(
                wavespeed_task_id=task.task_id,
                wavespeed_task_attempt=task.attempt,
                wavespeed_submitted_at=task.submitted_at,
            )

        async def on_status(prediction: Prediction) -> None:
            await control.progress("queued" if prediction.status == "created" else "running")

        async def on_position(ahead: int, eta_s: float | None) -> None:
            # Waiting for a start or a slot of the account: the user sees their place in our queue.
            await control.progress("queued", ahead, eta_s)

        try:
            urls = _remembered_inputs(state)
            if urls is None:
                await control.progress("uploading")
                urls = await self._inputs.upload_all(job, deadline)
                await control.remember(wavespeed_inputs=urls)
            face_url, target_url = urls
            if resume is not None:
                log.info("resuming WaveSpeed task %s", resume.task_id)
            done = await self._executor.run(
                self._model_id,
                arguments(face_url, target_url),
                deadline=deadline,
                resume=resume,
                on_submitted=on_submitted,
                on_status=on_status,
                on_position=on_position,
            )
            await control.progress("downloading")
            output = await self._outputs.store(job.job_id, done.output, deadline)
        except ImageRejected as error:
            return control.failed(error.reason, str(error))
        except MediaNotFound:
            return control.failed(FailureReason.input_gone, "an input image is not in the media store")
        except TaskFailed as error:
            log.warning("WaveSpeed failed the task: %s (%s)", error.reason, error.detail)
            return control.failed(error.reason, error.detail)
        except WaveSpeedError as error:
            log.warning("WaveSpeed refused the job: %s (%s)", error.reason, error.detail)
            return control.failed(error.reason, error.detail)
        except DeadlineExceeded as error:
            # Waiting for the account's slot or start rate means WaveSpeed was busy, not the job slow.
            reason = FailureReason.provider_busy if error.waiting else FailureReason.timeout
            return control.failed(reason, error.detail)
        await control.remember(output=output.model_dump(mode="json"), provider_ms=done.provider_ms)
        return control.succeeded([output], provider_ms=done.provider_ms)
