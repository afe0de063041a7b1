"""The composition root every service shares: logging, NATS, JetStream layout, health port, signals.

A service provides ``setup(ctx)``: it builds its clients from ``ctx`` and registers background
tasks with ``ctx.spawn`` and cleanups with ``ctx.on_shutdown``. SIGTERM/SIGINT set ``ctx.stopping``;
cleanups then run in reverse order (stop fetching, finish or hand back in-flight work), and the
NATS connection is drained last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Generic, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext

from medialab_runtime.health import HealthServer
from medialab_runtime.logs import secret_values, setup_logging
from medialab_runtime.metrics import BUILD_INFO
from medialab_runtime.nats_conn import ReconnectHooks, connect
from medialab_runtime.placement import PlacementReport
from medialab_runtime.provisioning import LayoutConfig, ensure_layout, layout_streams
from medialab_runtime.settings import ServiceSettings, UnsafeSettingsError
from medialab_runtime.tasks import cancel_and_wait

log = logging.getLogger(__name__)
# Lifecycle lines ("health port N", started, stopping) are logged whatever LOG_LEVEL says: the
# launcher and the test harness read the health port from this line.
lifecycle = logging.getLogger("medialab.lifecycle")

S = TypeVar("S", bound=ServiceSettings)


@dataclass
class ServiceContext(Generic[S]):
    name: str
    settings: S
    nc: Client
    js: JetStreamContext
    health: HealthServer
    stopping: asyncio.Event
    _stack: AsyncExitStack
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._report_crash)
        return task

    def on_shutdown(self, callback: Callable[[], Awaitable[Any]]) -> None:
        self._stack.push_async_callback(callback)

    def _report_crash(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("background task %s crashed; stopping", task.get_name(), exc_info=task.exception())
        self.stopping.set()

    async def _cancel_tasks(self) -> None:
        await cancel_and_wait(self._tasks)


def package_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "0+unknown"


async def _connect_until_up(
    settings: ServiceSettings, name: str, stopping: asyncio.Event, hooks: ReconnectHooks
) -> Client:
    delay = 0.2
    while True:
        try:
            password = settings.nats_password.get_secret_value() if settings.nats_password else None
            return await connect(settings.nats_url, name, hooks, settings.nats_user, password)
        except Exception as error:  # nats-py raises several unrelated types on a refused connect
            if stopping.is_set():
                raise
            log.warning("nats not reachable (%s); retrying in %.1fs", type(error).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _reprovision(
    js: JetStreamContext, layout: LayoutConfig, service: str | None = None, attempts: int = 20
) -> None:
    """Create the layout again after a reconnect: a restarted nats-server comes back without its
    memory-storage buckets (``tglimits``), and one that lost its store without anything at all."""
    for attempt in range(1, attempts + 1):
        try:
            await ensure_layout(js, layout, service)
            return
        except Exception as error:  # JetStream may still be recovering its streams
            log.warning("layout not re-created yet (%s, attempt %d)", type(error).__name__, attempt)
            await asyncio.sleep(min(0.2 * attempt, 2.0))
    log.error("could not re-create the JetStream layout after a reconnect")


async def run_service(
    name: str,
    settings: S,
    setup: Callable[[ServiceContext[S]], Awaitable[None]],
    *,
    layout: LayoutConfig | None = None,
    dist: str | None = None,
    freeze_after_start: bool = False,
) -> None:
    """Run a service until SIGTERM. ``freeze_after_start`` (a service's own process, not a test's):
    once started, every object alive moves out of the garbage collector's reach (``gc.freeze``). A
    full collection scanned them all, ~130,000 in the gateway: a ~100 ms stall of the event loop on
    the 2-core bench machine whenever one ran under load."""
    setup_logging(name, settings.log_level, settings.log_format, secret_values(settings))
    try:
        settings.check_production()
    except UnsafeSettingsError as refusal:
        lifecycle.error("%s refuses to start: %s", name, refusal)
        raise SystemExit(f"{name}: {refusal}") from None
    BUILD_INFO.labels(name, package_version(dist or f"medialab-{name}")).set(1)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    async with AsyncExitStack() as stack:
        health = HealthServer(name, settings.http_host, settings.http_port)
        await health.start()
        stack.push_async_callback(health.stop)
        lifecycle.info("health port %d", health.port)

        # Ready only after setup: a caller must not see /readyz before the endpoints exist.
        started = asyncio.Event()
        health.add_check("started", started.is_set)
        hooks = ReconnectHooks()
        nc = await _connect_until_up(settings, name, stopping, hooks)

        async def drain() -> None:
            # Not wait_for: nats-py's drain swallows the cancellation of a timeout and goes on
            # flushing, so a drain that outlives the grace is left behind and the connection closed.
            draining = asyncio.create_task(nc.drain())
            await asyncio.wait({draining}, timeout=settings.shutdown_grace_s or 1)
            if not draining.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), timeout=1)
            await cancel_and_wait([draining])

        stack.push_async_callback(drain)
        health.add_check("nats", lambda: nc.is_connected)
        js = nc.jetstream()
        layout = layout or settings.layout()
        await ensure_layout(js, layout, name)
        hooks.add(lambda: _reprovision(js, layout, name))
        ctx = ServiceContext(name, settings, nc, js, health, stopping, stack)
        stack.push_async_callback(ctx._cancel_tasks)
        placement = PlacementReport(js, name, layout_streams(name))
        health.add_detail("jetstream", placement.details)
        ctx.spawn(placement.run(), "jetstream-placement")
        await setup(ctx)
        if freeze_after_start:
            gc.collect()
            gc.freeze()
        started.set()
        lifecycle.info("%s started", name)
        await stopping.wait()
        lifecycle.info("%s stopping", name)
    lifecycle.info("%s stopped", name)


def main(
    name: str,
    settings_type: type[S],
    setup: Callable[[ServiceContext[S]], Awaitable[None]],
    *,
    dist: str | None = None,
) -> None:
    """Entry point for ``python -m <service>``."""
    settings = settings_type()
    asyncio.run(run_service(name, settings, setup, dist=dist, freeze_after_start=True))
