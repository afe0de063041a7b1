"""uvicorn run as a task of the caller's event loop, on a socket bound up front.

Every emulator serves this way: in-process for tests, or inside its own ``__main__``. Binding
before serving lets an emulator know its port (0 picks a free one) and so its URLs before the
first request arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI


class _HostOwnsSignals(uvicorn.Server):
    """uvicorn that leaves signal handling alone: the host process (pytest, a launcher) owns it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """One uvicorn server (``lifespan`` off) on ``host:port``.

    ``capture_signals`` lets uvicorn exit on SIGINT/SIGTERM itself (a standalone process that
    waits in ``wait``); ``uvicorn_options`` go to ``uvicorn.Config`` as they are.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        capture_signals: bool = False,
        task_name: str | None = None,
        **uvicorn_options: Any,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._capture_signals = capture_signals
        self._task_name = task_name
        self._options = uvicorn_options
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        # The last bound port; kept after ``stop`` so addresses can still be reported.
        self.port: int | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def bind(self) -> int:
        """Take the port now and return it; ``start`` serves on this socket."""
        if self._sock is not None:
            self._sock.close()
        self._sock = self._bound_socket()
        return int(self._sock.getsockname()[1])

    async def start(self, app: FastAPI) -> None:
        """Serve ``app`` (binding first unless ``bind`` was called); return once it accepts."""
        sock = self._sock if self._sock is not None else self._bound_socket()
        self._sock = None
        # Idle connections live longer here than in the clients' pools (httpx drops them after 5 s, as
        # uvicorn did): a client reusing a connection the server is closing at that moment reads EOF.
        options = {"timeout_keep_alive": 30, **self._options}
        config = uvicorn.Config(app, lifespan="off", **options)
        server = uvicorn.Server(config) if self._capture_signals else _HostOwnsSignals(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=self._task_name)
        self._server, self._task = server, task
        while not server.started:
            if task.done():
                self._server = self._task = None
                task.result()  # re-raise why uvicorn could not start
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Ask uvicorn to exit and wait until it has; nothing to do when not running."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None

    async def wait(self) -> None:
        """Block until the server exits by itself (with ``capture_signals``: on a signal)."""
        if self._task is None:
            raise RuntimeError("the server is not started")
        await self._task

    def _bound_socket(self) -> socket.socket:
        if self.running:
            raise RuntimeError("the server is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose proto
        # says TCP, and without it every response waits ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        return sock
