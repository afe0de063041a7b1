"""The HTTP side port of every service: /healthz (alive), /readyz (dependencies up), /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[bool] | bool]


def build_app(service: str, checks: dict[str, ReadyCheck]) -> FastAPI:
    app = FastAPI(title=f"{service} health", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                outcome = check()
                results[name] = bool(await outcome if isinstance(outcome, Awaitable) else outcome)
            except Exception:  # a failing probe means "not ready", never a 500
                log.debug("readiness check %s raised", name, exc_info=True)
                results[name] = False
        ready = all(results.values())
        response.status_code = 200 if ready else 503
        return {"ready": ready, "checks": results}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal capture: the service's own shutdown owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    def __init__(self, service: str, host: str, port: int) -> None:
        self.service = service
        self.checks: dict[str, ReadyCheck] = {}
        self._config = uvicorn.Config(
            build_app(service, self.checks),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = _EmbeddedServer(self._config)
        self._task: asyncio.Task[None] | None = None

    def add_check(self, name: str, check: ReadyCheck) -> None:
        self.checks[name] = check

    @property
    def port(self) -> int:
        servers = getattr(self._server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self._config.port

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(), name=f"{self.service}-health")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
