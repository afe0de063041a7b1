"""The HTTP side port of every service: /healthz (alive), /readyz (dependencies up), /metrics.

Served by aiohttp's server rather than an ASGI stack: nats-py and aiogram already load aiohttp, so the
port costs a few MB of RSS instead of the ~15 MB FastAPI, Starlette and uvicorn took in every process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[bool] | bool]
# What /readyz reports besides the checks (JetStream placement): information, never a reason to be unready.
ReadyDetail = Callable[[], Awaitable[object]]

# A stopping service should not wait on a slow scraper: probes and scrapes answer in milliseconds.
_SHUTDOWN_TIMEOUT_S = 1.0


async def _evaluate(checks: dict[str, ReadyCheck]) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            outcome = check()
            results[name] = bool(await outcome if isinstance(outcome, Awaitable) else outcome)
        except Exception:  # a failing probe means "not ready", never a 500
            log.debug("readiness check %s raised", name, exc_info=True)
            results[name] = False
    return results


async def _describe(details: dict[str, ReadyDetail]) -> dict[str, object]:
    described: dict[str, object] = {}
    for name, detail in details.items():
        try:
            described[name] = await detail()
        except Exception as error:  # a detail that cannot be had is reported as such, never a 500
            log.debug("readiness detail %s raised", name, exc_info=True)
            described[name] = {"error": type(error).__name__}
    return described


def build_app(
    service: str, checks: dict[str, ReadyCheck], details: dict[str, ReadyDetail] | None = None
) -> web.Application:
    details = details if details is not None else {}

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": service})

    async def readyz(_request: web.Request) -> web.Response:
        results = await _evaluate(checks)
        ready = all(results.values())
        body: dict[str, object] = {"ready": ready, "checks": results}
        if details:
            body["details"] = await _describe(details)
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(_request: web.Request) -> web.Response:
        # CONTENT_TYPE_LATEST carries a charset and a version parameter, so it goes in as a raw header.
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


class HealthServer:
    def __init__(self, service: str, host: str, port: int) -> None:
        self.service = service
        self.checks: dict[str, ReadyCheck] = {}
        self.details: dict[str, ReadyDetail] = {}
        self._host = host
        self._port = port
        # access_log=None: probes every few seconds would drown the service's own log lines.
        self._runner = web.AppRunner(
            build_app(service, self.checks, self.details),
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        self._started = False

    def add_check(self, name: str, check: ReadyCheck) -> None:
        self.checks[name] = check

    def add_detail(self, name: str, detail: ReadyDetail) -> None:
        self.details[name] = detail

    @property
    def port(self) -> int:
        for address in self._runner.addresses:
            return int(address[1])
        return self._port

    async def start(self) -> None:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._runner.cleanup()
