"""The FastAPI app serving every emulated fal host on one port (prefixes in ``emulator``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from medialab_sandbox.fal import api_control, api_queue, api_storage
from medialab_sandbox.fal.emulator import FalEmulator
from medialab_sandbox.fal.errors import ReplyError


def build_app(emulator: FalEmulator) -> FastAPI:
    app = FastAPI(title="fal.ai emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emulator

    @app.exception_handler(ReplyError)
    async def reply_error(request: Request, error: ReplyError) -> JSONResponse:
        return error.reply.to_response()

    app.include_router(api_control.router)
    app.include_router(api_storage.router)
    app.include_router(api_queue.router)
    return app
