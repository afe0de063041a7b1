"""Queue host routes (fal.md §2–3): submit, status, result, cancel under ``/queue``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from medialab_sandbox.fal.deps import Authorization, Emulator
from medialab_sandbox.fal.emulator import FalBackend
from medialab_sandbox.fal.errors import (
    ErrorReply,
    ReplyError,
    infra_error,
    not_found,
    rate_limited,
    validation_error,
)
from medialab_sandbox.fal.faults import Phase
from medialab_sandbox.fal.inference import MODELS
from medialab_sandbox.fal.llm import REMOVED_ENDPOINTS
from medialab_sandbox.fal.queue import Job, JobStatus, app_id
from medialab_sandbox.fal.recorder import CancelRecord, SubmitRecord

router = APIRouter(prefix="/queue")

KNOWN_APPS = {app_id(model_id) for model_id in MODELS}


def _urls(emu: FalBackend, job: Job) -> dict[str, str]:
    base = f"{emu.queue_base}/{job.app_id}/requests/{job.request_id}"
    return {
        "request_id": job.request_id,
        "response_url": base,
        "status_url": f"{base}/status",
        "cancel_url": f"{base}/cancel",
    }


def _unknown_model(model_id: str) -> ReplyError:
    if model_id in REMOVED_ENDPOINTS:
        return ReplyError(REMOVED_ENDPOINTS[model_id])
    owner_app = app_id(model_id)
    if owner_app in KNOWN_APPS:
        # The app exists but has no such endpoint: the fal SDK's own 404.
        return ReplyError(not_found(f"Path /{model_id.removeprefix(owner_app).strip('/')} not found"))
    # Text of the gateway's unknown-application answer is UNCONFIRMED.
    return ReplyError(not_found(f"Application '{owner_app}' not found"))


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as error:
        item = {"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}
        raise ReplyError(validation_error([item])) from error
    if not isinstance(body, dict):
        item = {
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "type": "model_attributes_type",
        }
        raise ReplyError(validation_error([item]))
    return body


def lifecycle_preference(header: str | None) -> dict[str, Any] | None:
    """``X-Fal-Object-Lifecycle-Preference``: a JSON object whose ``expiration_duration_seconds`` is
    an integer >= 1 or null (fal docs "Data Retention & Storage"; the storage settings API gives the
    range). fal's answer to a malformed one is UNCONFIRMED: refused here as a bad request."""
    if header is None:
        return None
    bad = ReplyError(infra_error(400, "bad_request", "Invalid X-Fal-Object-Lifecycle-Preference"))
    try:
        value = json.loads(header)
    except ValueError:
        raise bad from None
    if not isinstance(value, dict) or "expiration_duration_seconds" not in value:
        raise bad
    seconds = value["expiration_duration_seconds"]
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1):
        raise bad
    return value


def _start_timeout(header: str | None) -> float | None:
    """``X-Fal-Request-Timeout``: seconds the request may wait before it starts (§3.5)."""
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        raise ReplyError(infra_error(400, "bad_request", "Invalid X-Fal-Request-Timeout")) from None
    if seconds <= 0:
        raise ReplyError(infra_error(400, "bad_request", "Invalid X-Fal-Request-Timeout"))
    return seconds


@router.post("/{model_id:path}")
async def submit(
    model_id: str,
    request: Request,
    emu: Emulator,
    authorization: Authorization = None,
    fal_webhook: str | None = None,
    fal_max_queue_length: int | None = None,
    x_fal_request_timeout: Annotated[str | None, Header()] = None,
    x_fal_object_lifecycle_preference: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    key = emu.authenticate(authorization)
    if model_id not in MODELS:
        raise _unknown_model(model_id)
    if emu.faults.take_hang(model_id, Phase.SUBMIT):
        await emu.hang_here()
        raise ReplyError(infra_error(504))
    body = _parse_body(await request.body())
    record = SubmitRecord(key=key, model_id=model_id, body=body, webhook_url=fal_webhook)
    rejection = emu.faults.take_submit_error(model_id)
    if rejection is None and fal_max_queue_length is not None:
        if emu.queue.waiting_count(key, model_id) >= fal_max_queue_length:
            rejection = rate_limited("Queue is full")
    if rejection is not None:
        record.rejected_status = rejection.status_code
        emu.recorder.submits.append(record)
        raise ReplyError(rejection)
    start_timeout = _start_timeout(x_fal_request_timeout)
    record.request_timeout_s = start_timeout
    record.lifecycle = lifecycle_preference(x_fal_object_lifecycle_preference)
    latency = emu.faults.latency_for(model_id)
    slow = emu.faults.take_slow(model_id)
    job = emu.queue.submit(
        key=key,
        model_id=model_id,
        body=body,
        webhook_url=fal_webhook,
        queue_seconds=latency.queue_seconds,
        run_seconds=latency.run_seconds if slow is None else slow,
        forced_error=emu.faults.take_job_error(model_id),
        start_timeout=start_timeout,
    )
    record.request_id = job.request_id
    emu.recorder.submits.append(record)
    payload: dict[str, Any] = {
        "status": JobStatus.IN_QUEUE.value,
        **_urls(emu, job),
        "logs": None,
        "metrics": {},
        "queue_position": emu.queue.queue_position(job),
    }
    return JSONResponse(payload, headers={"x-fal-request-id": job.request_id})


# Body text for unknown request ids is UNCONFIRMED.
REQUEST_NOT_FOUND = not_found("Request not found")
# fal documents NOT_FOUND as a cancel status; its HTTP code is UNCONFIRMED.
CANCEL_NOT_FOUND = ErrorReply(status_code=404, body={"status": "NOT_FOUND"})


async def _find_job(
    emu: FalBackend,
    app_path: str,
    request_id: str,
    phase: Phase,
    missing: ErrorReply = REQUEST_NOT_FOUND,
) -> Job:
    """The job under this ``owner/app`` (a wrong app is a 404, as the URL split demands)."""
    job = emu.job(request_id)
    if job is None or job.app_id != app_path:
        raise ReplyError(missing)
    if emu.faults.take_hang(job.model_id, phase):
        await emu.hang_here()
        raise ReplyError(infra_error(504))
    fault = emu.faults.take_poll_error(job.model_id, phase)
    if fault is not None:
        raise ReplyError(fault)
    return job


@router.get("/{app_path:path}/requests/{request_id}/status")
async def status(
    app_path: str,
    request_id: str,
    emu: Emulator,
    authorization: Authorization = None,
    logs: bool = False,
) -> JSONResponse:
    emu.authenticate(authorization)
    job = await _find_job(emu, app_path, request_id, Phase.STATUS)
    job.status_polls += 1
    payload: dict[str, Any] = {"status": job.status.value, **_urls(emu, job)}
    payload["logs"] = list(job.logs) if logs else None
    if job.status is JobStatus.IN_QUEUE:
        payload["queue_position"] = emu.queue.queue_position(job)
    if job.status is JobStatus.COMPLETED and job.outcome is not None:
        inference_time = job.inference_time
        payload["metrics"] = {} if inference_time is None else {"inference_time": inference_time}
        if not job.outcome.ok:
            payload["error"] = job.outcome.error
            payload["error_type"] = job.outcome.error_type
    code = 200 if job.status is JobStatus.COMPLETED else 202
    return JSONResponse(payload, status_code=code, headers={"x-fal-request-id": job.request_id})


@router.get("/{app_path:path}/requests/{request_id}")
async def result(
    app_path: str, request_id: str, emu: Emulator, authorization: Authorization = None
) -> JSONResponse:
    emu.authenticate(authorization)
    job = await _find_job(emu, app_path, request_id, Phase.RESULT)
    if job.outcome is None:
        # fal's answer for a result fetched too early is UNCONFIRMED.
        return JSONResponse(
            {"detail": "Request is still in progress"},
            status_code=400,
            headers={"x-fal-request-id": job.request_id},
        )
    headers = {**job.outcome.headers, "x-fal-request-id": job.request_id}
    return JSONResponse(job.outcome.body, status_code=job.outcome.status_code, headers=headers)


@router.put("/{app_path:path}/requests/{request_id}/cancel")
async def cancel(
    app_path: str, request_id: str, emu: Emulator, authorization: Authorization = None
) -> JSONResponse:
    emu.authenticate(authorization)
    job = await _find_job(emu, app_path, request_id, Phase.CANCEL, CANCEL_NOT_FOUND)
    headers = {"x-fal-request-id": job.request_id}
    if emu.queue.cancel(job):
        emu.recorder.cancels.append(CancelRecord(request_id=job.request_id, status="CANCELLATION_REQUESTED"))
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202, headers=headers)
    emu.recorder.cancels.append(CancelRecord(request_id=job.request_id, status="ALREADY_COMPLETED"))
    return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400, headers=headers)
