"""The YooKassa emulator served: the ASGI app built around a ``YooKassaBackend``."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from medialab_sandbox.http_server import HttpServer
from medialab_sandbox.lifecycle import Lifecycle
from medialab_sandbox.yookassa.api import ApiError, api_router
from medialab_sandbox.yookassa.checkout import checkout_router
from medialab_sandbox.yookassa.config import EmulatorConfig
from medialab_sandbox.yookassa.control_api import control_router
from medialab_sandbox.yookassa.emulator import YooKassaBackend


def build_app(emu: YooKassaBackend) -> FastAPI:
    app = FastAPI(title="YooKassa v3 emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = emu

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return ApiError(exc.status_code, str(exc.detail)).response()

    app.include_router(control_router)
    app.include_router(checkout_router)
    app.include_router(api_router)
    return app


class YooKassaEmulator(YooKassaBackend, Lifecycle):
    """The YooKassa v3 API of one test shop on a local port.

    In process::

        async with YooKassaEmulator(EmulatorConfig(webhook_url=url)) as emu:
            settings.yookassa_api_base = emu.base_url
            emu.faults.deliveries(Delivery.DUPLICATE)
            emu.pay(payment_id)

    Standalone: ``python -m medialab_sandbox.yookassa --port 8791 --webhook-url URL``, driven from
    another process with ``YooKassaEmulatorControl(base_url)``.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(config)
        self._host = host
        self._server = HttpServer(host, port, log_config=None, timeout_graceful_shutdown=1)

    async def start(self) -> None:
        if self._server.running:
            raise RuntimeError("the emulator is already running")
        await self._server.start(build_app(self))
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        self._base_url = f"http://{host}:{self._server.port}"

    async def stop(self) -> None:
        if not self._server.running:
            return
        await self.notifier.close()
        await self._server.stop()

    @property
    def port(self) -> int:
        if self._server.port is None:
            raise RuntimeError("emulator not started")
        return self._server.port
