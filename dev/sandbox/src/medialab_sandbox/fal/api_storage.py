"""REST storage (``/rest``) and CDN (``/cdn``) routes (fal.md §7)."""

from __future__ import annotations

import json
import mimetypes
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from medialab_sandbox.fal.api_queue import lifecycle_preference
from medialab_sandbox.fal.deps import Authorization, Emulator
from medialab_sandbox.fal.errors import ReplyError, not_found, unauthorized
from medialab_sandbox.fal.storage import iso_utc

router = APIRouter()

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _default_name(content_type: str) -> str:
    extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    return f"upload{extension}"


@router.post("/rest/storage/auth/token")
async def auth_token(emu: Emulator, authorization: Authorization = None) -> JSONResponse:
    # ``?storage_type=fal-cdn-v3`` (or any other) is accepted: there is one store here.
    key = emu.authenticate(authorization)
    token = emu.storage.issue_token(key)
    return JSONResponse(
        {
            "token": token.token,
            "token_type": "Bearer",
            "base_url": emu.cdn_base,
            "expires_at": iso_utc(token.expires_at),
        }
    )


@router.post("/rest/storage/upload/initiate")
async def upload_initiate(
    request: Request,
    emu: Emulator,
    authorization: Authorization = None,
) -> JSONResponse:
    emu.authenticate(authorization)
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    content_type = str(body.get("content_type") or DEFAULT_CONTENT_TYPE)
    file_name = str(body.get("file_name") or _default_name(content_type))
    upload, secret = emu.storage.initiate(file_name, content_type)
    return JSONResponse(
        {
            "upload_url": f"{emu.cdn_base}/upload/{secret}",
            "file_url": emu.storage.file_url_for(upload),
        }
    )


@router.post("/cdn/files/upload")
async def cdn_upload(
    request: Request,
    emu: Emulator,
    authorization: Authorization = None,
    content_type: Annotated[str | None, Header()] = None,
    x_fal_file_name: Annotated[str | None, Header()] = None,
    x_fal_object_lifecycle_preference: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not emu.storage.token_valid(token.strip()):
        # fal's text for a bad CDN token is UNCONFIRMED.
        raise ReplyError(unauthorized("Invalid or expired token"))
    emu.recorder.upload_lifecycles.append(lifecycle_preference(x_fal_object_lifecycle_preference))
    mime = content_type or DEFAULT_CONTENT_TYPE
    stored = emu.storage.put(await request.body(), mime, x_fal_file_name or _default_name(mime))
    return JSONResponse({"access_url": emu.storage.url(stored)})


@router.put("/cdn/upload/{secret}")
async def cdn_signed_put(
    secret: str,
    request: Request,
    emu: Emulator,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    stored = emu.storage.complete(secret, await request.body(), content_type)
    if stored is None:
        raise ReplyError(not_found("Upload URL not found or already used"))
    return Response(status_code=200)


@router.api_route("/cdn/files/{file_id}/{file_name:path}", methods=["GET", "HEAD"])
async def cdn_get(file_id: str, file_name: str, emu: Emulator) -> Response:
    stored = emu.storage.get(file_id)
    if stored is None:
        raise ReplyError(not_found("File not found"))
    return Response(content=stored.data, media_type=stored.content_type)
