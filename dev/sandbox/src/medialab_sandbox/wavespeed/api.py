"""The public surface: submit, result, media uploads, the signed-URL PUT and media downloads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from medialab_sandbox.wavespeed.accounts import Account, retry_after_header
from medialab_sandbox.wavespeed.codes import TaskErrorCode, sync_timeout_message
from medialab_sandbox.wavespeed.config import InvalidInputMode
from medialab_sandbox.wavespeed.deps import Emulator
from medialab_sandbox.wavespeed.emulator import WaveSpeedBackend
from medialab_sandbox.wavespeed.faults import HangFault, HttpFault, Target, TaskFailure
from medialab_sandbox.wavespeed.records import (
    DownloadRecord,
    PollPath,
    PollRecord,
    SubmitRecord,
    UploadFlow,
    UploadRecord,
)
from medialab_sandbox.wavespeed.schemas import (
    MODEL_INPUTS,
    WEBHOOK_BASE64_ERROR,
    Envelope,
    ErrorBody,
    FaceSwapProInput,
    HistoryEnvelope,
    HistoryItem,
    HistoryPage,
    HistoryRequest,
    TaskStatus,
    UploadData,
    UploadEnvelope,
    UploadTarget,
    UploadTicketRequest,
    describe_validation_error,
    validation_error_code,
)
from medialab_sandbox.wavespeed.tasks import Task
from medialab_sandbox.wavespeed.uploads import (
    MEDIA_PREFIX,
    UPLOAD_PREFIX,
    Media,
    guess_content_type,
)


class ApiError(Exception):
    """An HTTP error answer; `body` is JSON, or raw text sent with `media_type`."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | str,
        headers: dict[str, str] | None = None,
        media_type: str = "text/html",
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.media_type = media_type

    def response(self) -> Response:
        if isinstance(self.body, str):
            return Response(self.body, self.status, self.headers, media_type=self.media_type)
        return JSONResponse(self.body, self.status, self.headers)


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, ErrorBody(code=status, message=message).model_dump(), headers)


def storage_error(status: int, code: str, message: str) -> ApiError:
    """Errors of the signed-URL target look like an object store's (XML), not like the API's."""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return ApiError(status, body, media_type="application/xml")


def fault_error(fault: HttpFault) -> ApiError:
    if fault.body is not None:
        body = fault.body
    else:
        body = ErrorBody(code=fault.status, message=_phrase(fault.status)).model_dump()
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = retry_after_header(fault.retry_after)
    return ApiError(fault.status, body, headers)


api_router = APIRouter()


@api_router.post("/api/v3/media/uploads")
async def open_upload(request: Request, emu: Emulator) -> Response:
    await _gate(emu, Target.UPLOAD)
    account = _authenticate(emu, request)
    try:
        ask = UploadTicketRequest.model_validate(await _json_body(request))
    except ValidationError as exc:
        raise _invalid(exc) from exc
    _check_size(emu, ask.size)
    ticket = emu.media.open_ticket(ask.filename, ask.content_type)
    base = _base_url(emu, request)
    target = UploadTarget(url=base + ticket.path, headers={"Content-Type": ask.content_type})
    _record_upload(emu, account, "ticket", ticket.media, ask.size, base, completed=False)
    return _upload_answer(ticket.media, ask.size, base, target)


@api_router.put(UPLOAD_PREFIX + "/{token}")
async def put_upload(token: str, request: Request, emu: Emulator) -> Response:
    await _gate(emu, Target.STORAGE_PUT)
    ticket = emu.media.ticket(token)
    if ticket is None:
        raise storage_error(403, "AccessDenied", "Invalid or expired upload URL")
    if "authorization" in request.headers:
        # A presigned URL plus an Authorization header is refused by S3-style stores.
        raise storage_error(400, "InvalidArgument", "Only one auth mechanism allowed")
    if request.headers.get("content-type") != ticket.media.content_type:
        raise storage_error(403, "SignatureDoesNotMatch", "Content-Type differs from ticket")
    data = await request.body()
    if len(data) > emu.config.max_upload_bytes:
        raise storage_error(413, "EntityTooLarge", "Upload exceeds the allowed size")
    ticket.media.data = data
    for record in emu.records.uploads:
        if record.media_id == ticket.media.media_id:
            record.completed, record.size = True, len(data)
    return Response(status_code=200)


@api_router.post("/api/v3/media/upload/binary")
async def upload_binary(request: Request, emu: Emulator) -> Response:
    await _gate(emu, Target.UPLOAD)
    account = _authenticate(emu, request)
    try:
        async with request.form() as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise api_error(400, "Missing multipart form field 'file'")
            data = await part.read()
            filename = part.filename or "file"
            content_type = guess_content_type(filename, part.content_type)
    except MultiPartException as exc:
        raise api_error(400, f"Malformed multipart body: {exc.message}") from exc
    _check_size(emu, len(data))
    media = emu.media.add(filename, content_type, data)
    base = _base_url(emu, request)
    _record_upload(emu, account, "binary", media, len(data), base, completed=True)
    return _upload_answer(media, len(data), base, None)


@api_router.get("/api/v3/predictions/{task_id}/result")
async def result(task_id: str, request: Request, emu: Emulator) -> Response:
    return await _poll(emu, request, task_id, "result")


@api_router.get("/api/v3/predictions/{task_id}")
async def prediction(task_id: str, request: Request, emu: Emulator) -> Response:
    return await _poll(emu, request, task_id, "bare")


@api_router.get("/api/v3/balance")
async def balance(request: Request, emu: Emulator) -> Response:
    # docs: docs-common-api/balance; `dev.py smoke` asks it as the cheapest authorised call.
    _authenticate(emu, request)
    return JSONResponse({"code": 200, "message": "success", "data": {"balance": emu.config.balance_usd}})


# Before the model route, which would take "predictions" for a model id.
@api_router.post("/api/v3/predictions")
async def history(request: Request, emu: Emulator) -> Response:
    await _gate(emu, Target.HISTORY)
    account = _authenticate(emu, request)
    try:
        ask = HistoryRequest.model_validate(await _json_body(request))
    except ValidationError as exc:
        raise _invalid(exc) from exc
    emu.records.counts["history"] += 1
    return JSONResponse(_history_page(emu, account, ask))


@api_router.post("/api/v3/{model_id:path}")
async def submit(model_id: str, request: Request, emu: Emulator) -> Response:
    body = await _json_body(request)
    record = SubmitRecord(
        at=time.monotonic(),
        account=None,
        model=model_id,
        body=body,
        query=dict(request.query_params),
    )
    emu.records.submits.append(record)
    emu.records.counts["submits"] += 1
    with _status_into(record):
        return await _submit(emu, request, model_id, body, record)


@api_router.get(MEDIA_PREFIX + "/{media_id}/{filename}")
async def download(media_id: str, filename: str, request: Request, emu: Emulator) -> Response:
    record = DownloadRecord(at=time.monotonic(), media_id=media_id, status_code=200)
    emu.records.downloads.append(record)
    emu.records.counts["downloads"] += 1
    with _status_into(record):
        await _gate(emu, Target.DOWNLOAD)
        media = emu.media.get(media_id, filename)
        if media is None or media.data is None:
            raise api_error(404, "Not found")
        return Response(media.data, media_type=media.content_type)


async def _submit(
    emu: WaveSpeedBackend, request: Request, model_id: str, body: Any, record: SubmitRecord
) -> Response:
    late_fault = await _gate(emu, Target.SUBMIT)
    account = _authenticate(emu, request)
    record.account = account.name
    if not isinstance(body, dict):
        raise api_error(400, "Request body must be a JSON object")
    input_model = MODEL_INPUTS.get(model_id)
    if input_model is None:
        raise api_error(404, f"Model not found: {model_id}")
    if request.query_params.get("webhook") and body.get("enable_base64_output") is True:
        raise ApiError(400, {"error": WEBHOOK_BASE64_ERROR})
    params, failure = _validate(emu, input_model, body)
    record.sync = params.enable_sync_mode if params else body.get("enable_sync_mode") is True

    wait = account.try_start(time.monotonic(), emu.config.rate_window_seconds)
    if wait is not None:
        headers = {"Retry-After": retry_after_header(wait)} if emu.config.retry_after_header else {}
        raise api_error(429, "Rate limit exceeded: too many tasks started per minute", headers)

    task = Task(
        account=account.name,
        model=model_id,
        body=body,
        input=params,
        base_url=_base_url(emu, request),
        own_hosts=emu.own_hosts(request.url.netloc),
        processing_seconds=_task_seconds(emu),
        failure=failure or emu.faults.next_task_failure(),
    )
    emu.engine.start(task, account)
    record.task_id = task.id
    if isinstance(late_fault, HangFault):
        await emu.engine.pause(late_fault.seconds)  # the client has likely given up by now
    elif late_fault is not None:
        raise fault_error(late_fault)
    if record.sync:
        return await _sync_answer(emu, task)
    return JSONResponse(Envelope(data=task.data()).wire())


def _history_page(emu: WaveSpeedBackend, account: Account, ask: HistoryRequest) -> dict[str, Any]:
    """The account's tasks matching the filters, newest first, one page of them."""
    tasks = [
        task
        for task in emu.engine.tasks.values()
        if task.account == account.name
        and (ask.model is None or task.model == ask.model)
        and (ask.status is None or task.status == ask.status)
        and (ask.created_after is None or task.created_at >= ask.created_after)
        and (ask.created_before is None or task.created_at <= ask.created_before)
    ]
    tasks.sort(key=lambda task: task.created_at, reverse=True)
    start = (ask.page - 1) * ask.page_size
    inputs = ask.include_inputs and emu.config.history_inputs
    items = [
        HistoryItem(**task.data().model_dump(by_alias=True), inputs=task.body if inputs else None)
        for task in tasks[start : start + ask.page_size]
    ]
    page = HistoryPage(page=ask.page, total=len(tasks), items=items)
    return HistoryEnvelope(data=page).wire()


def _task_seconds(emu: WaveSpeedBackend) -> float:
    slow = emu.faults.next_task_seconds()
    return emu.config.processing_seconds if slow is None else slow


def _validate(
    emu: WaveSpeedBackend, input_model: type[FaceSwapProInput], body: dict[str, Any]
) -> tuple[FaceSwapProInput | None, TaskFailure | None]:
    try:
        return input_model.model_validate(body), None
    except ValidationError as exc:
        if emu.config.invalid_input is InvalidInputMode.HTTP_400:
            raise _invalid(exc) from exc
        failure = TaskFailure(code=validation_error_code(exc), message=describe_validation_error(exc))
        return None, failure


async def _sync_answer(emu: WaveSpeedBackend, task: Task) -> Response:
    timeout = emu.config.sync_timeout_seconds
    forced = emu.faults.next_sync_timeout()
    if forced or not await emu.engine.wait_done(task, timeout):
        data = task.data(
            status=TaskStatus.PROCESSING,
            code=TaskErrorCode.TIMEOUT,
            error=sync_timeout_message(timeout),
        )
        return JSONResponse(Envelope(data=data).wire())
    return JSONResponse(Envelope(data=task.data()).wire())


async def _poll(emu: WaveSpeedBackend, request: Request, task_id: str, path: PollPath) -> Response:
    record = PollRecord(at=time.monotonic(), task_id=task_id, account=None, path=path)
    emu.records.polls.append(record)
    emu.records.counts["polls"] += 1
    with _status_into(record):
        await _gate(emu, Target.POLL)
        account = _authenticate(emu, request)
        record.account = account.name
        task = emu.engine.tasks.get(task_id)
        if task is None or task.account != account.name:
            raise api_error(404, "Task not found")
        record.task_status = task.status
        return JSONResponse(Envelope(data=task.data()).wire())


async def _gate(emu: WaveSpeedBackend, target: Target) -> HttpFault | HangFault | None:
    """Apply the next injected fault for `target`, before authentication like a gateway would.

    A hang holds the request, then lets it go on; an HTTP fault is raised here. A submit fault
    with `after_create` is handed back instead, for the caller to apply once the task exists.
    """
    fault = emu.faults.next_fault(target)
    if fault is None:
        return None
    emu.records.counts[f"faults_{target}"] += 1
    if fault.after_create:
        return fault
    if isinstance(fault, HangFault):
        await emu.engine.pause(fault.seconds)
        return None
    raise fault_error(fault)


def _authenticate(emu: WaveSpeedBackend, request: Request) -> Account:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    account = emu.account_for_key(key.strip()) if scheme.lower() == "bearer" else None
    if account is None:
        raise api_error(401, "Invalid authentication: missing or unknown API key")
    return account


@contextmanager
def _status_into(record: SubmitRecord | PollRecord | DownloadRecord) -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        record.status_code = exc.status
        raise


async def _json_body(request: Request) -> Any:
    """The parsed JSON body; undecodable bodies come back as text, to be recorded and refused."""
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


def _invalid(exc: ValidationError) -> ApiError:
    return api_error(400, f"Invalid parameters: {describe_validation_error(exc)}")


def _check_size(emu: WaveSpeedBackend, size: int) -> None:
    if size > emu.config.max_upload_bytes:
        raise api_error(413, f"File too large: limit is {emu.config.max_upload_bytes} bytes")


def _base_url(emu: WaveSpeedBackend, request: Request) -> str:
    return (emu.config.public_url or str(request.base_url)).rstrip("/")


def _record_upload(
    emu: WaveSpeedBackend,
    account: Account,
    flow: UploadFlow,
    media: Media,
    size: int,
    base: str,
    *,
    completed: bool,
) -> None:
    emu.records.uploads.append(
        UploadRecord(
            at=time.monotonic(),
            account=account.name,
            flow=flow,
            filename=media.filename,
            content_type=media.content_type,
            size=size,
            media_id=media.media_id,
            download_url=base + media.path,
            completed=completed,
        )
    )
    emu.records.counts["uploads"] += 1


def _upload_answer(media: Media, size: int, base: str, target: UploadTarget | None) -> Response:
    data = UploadData(
        type=media.kind,
        download_url=base + media.path,
        filename=media.filename,
        size=size,
        upload=target,
    )
    return JSONResponse(UploadEnvelope(data=data).wire())


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
