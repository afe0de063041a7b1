"""The WaveSpeed emulator served: the ASGI app built around a ``WaveSpeedBackend``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from medialab_sandbox.http_server import HttpServer
from medialab_sandbox.lifecycle import Lifecycle
from medialab_sandbox.wavespeed.api import ApiError, api_router
from medialab_sandbox.wavespeed.codes import AccountLevel
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.control_api import CONTROL_PREFIX, control_router
from medialab_sandbox.wavespeed.emulator import WaveSpeedBackend
from medialab_sandbox.wavespeed.schemas import ErrorBody


def build_app(emu: WaveSpeedBackend) -> FastAPI:
    app = FastAPI(title="WaveSpeed v3 emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emu

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

    app.include_router(control_router)
    app.include_router(api_router)
    return app


def _envelope_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code=status, message=message).model_dump(), status)


class WaveSpeedEmulator(WaveSpeedBackend, Lifecycle):
    """A WaveSpeed v3 API on a local port: ``async with WaveSpeedEmulator([key]) as emu:``."""

    def __init__(
        self,
        api_keys: Iterable[str] = (),
        *,
        accounts: Mapping[str, Iterable[str]] | None = None,
        level: AccountLevel = AccountLevel.SILVER,
        max_concurrency: int | None = None,
        starts_per_minute: int | None = None,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            api_keys,
            accounts=accounts,
            level=level,
            max_concurrency=max_concurrency,
            starts_per_minute=starts_per_minute,
            config=config,
        )
        self._host = host
        # log_config=None: uvicorn leaves the host process's logging setup alone.
        self._server = HttpServer(host, port, log_config=None, timeout_graceful_shutdown=1)

    async def start(self) -> None:
        if self._server.running or self.engine.closed:
            raise RuntimeError("an emulator starts once; make a new one")
        await self._server.start(build_app(self))
        self._port = self._server.port

    async def stop(self) -> None:
        if not self._server.running:
            return
        # Release hanging requests and sync waits first so uvicorn can close every connection.
        await self.engine.close()
        await self._server.stop()

    @property
    def base_url(self) -> str:
        """What to put into `WAVESPEED_API_BASE`."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"http://{host}:{self.port}"
