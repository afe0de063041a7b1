"""The fal emulator served: one FastAPI app over a ``FalBackend`` (prefixes in ``emulator``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from medialab_sandbox.fal import api_control, api_queue, api_storage
from medialab_sandbox.fal.emulator import FalBackend
from medialab_sandbox.fal.errors import ReplyError
from medialab_sandbox.http_server import HttpServer
from medialab_sandbox.lifecycle import Lifecycle


def build_app(backend: FalBackend) -> FastAPI:
    app = FastAPI(title="fal.ai emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = backend

    @app.exception_handler(ReplyError)
    async def reply_error(request: Request, error: ReplyError) -> JSONResponse:
        return error.reply.to_response()

    app.include_router(api_control.router)
    app.include_router(api_storage.router)
    app.include_router(api_queue.router)
    return app


class FalEmulator(FalBackend, Lifecycle):
    """``async with FalEmulator(keys=[...]) as fal:`` serves the backend on ``host:port``.

    ``public_url`` replaces the bound address in every URL handed out (a proxy in front of it).
    """

    def __init__(
        self,
        keys: Iterable[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(keys, **options)
        self._host = host
        self._public_url = public_url.rstrip("/") if public_url else None
        self._server = HttpServer(
            host,
            port,
            log_level="warning",
            access_log=False,  # paths and headers may carry keys; keep them out of logs
            timeout_graceful_shutdown=1,
        )

    async def start(self) -> None:
        port = self._server.bind()
        self.open(self._public_url or f"http://{self._host}:{port}")
        await self._server.start(build_app(self))

    async def stop(self) -> None:
        await self.close()
        await self._server.stop()
