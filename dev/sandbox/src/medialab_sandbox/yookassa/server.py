"""The ASGI app around an emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from medialab_sandbox.yookassa.api import ApiError, api_router
from medialab_sandbox.yookassa.checkout import checkout_router
from medialab_sandbox.yookassa.control_api import control_router

if TYPE_CHECKING:
    from medialab_sandbox.yookassa.emulator import YooKassaEmulator


def build_app(emu: YooKassaEmulator) -> FastAPI:
    app = FastAPI(title="YooKassa v3 emulator", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return ApiError(exc.status_code, str(exc.detail)).response()

    app.include_router(control_router(emu))
    app.include_router(checkout_router(emu))
    app.include_router(api_router(emu))
    return app
