"""The ASGI app around an emulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medialab_sandbox.wavespeed.api import ApiError, api_router
from medialab_sandbox.wavespeed.control_api import CONTROL_PREFIX, control_router
from medialab_sandbox.wavespeed.schemas import ErrorBody

if TYPE_CHECKING:
    from medialab_sandbox.wavespeed.emulator import WaveSpeedEmulator


def build_app(emu: WaveSpeedEmulator) -> FastAPI:
    app = FastAPI(title="WaveSpeed v3 emulator", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def on_bad_request(_: Request, exc: RequestValidationError) -> Response:
        return _envelope_error(400, f"Invalid request: {exc.errors()}")

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _envelope_error(exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def count_statuses(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(CONTROL_PREFIX):
            emu.records.counts[f"http_{response.status_code}"] += 1
        return response

    app.include_router(control_router(emu))
    app.include_router(api_router(emu))
    return app


def _envelope_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code=status, message=message).model_dump(), status)
