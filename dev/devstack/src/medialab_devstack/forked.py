"""Service processes forked from a warm interpreter instead of started cold: the test suite's way.

A cold service process spends about a second of CPU importing the libraries every service shares
(aiohttp, nats-py, pydantic, asyncpg, prometheus-client, httpx, Pillow; FastAPI for the emulators)
before a line of its own runs. The test suite starts some 300 service and emulator processes, and on
two cores those imports were ~40 % of its CPU. With ``MEDIALAB_FORK_SERVICES=1`` (the pytest plugin
sets it) ``ServiceProcess`` has multiprocessing's fork server, which imported those libraries once,
fork each process instead. The child takes the service's environment, arguments, log file and a
session of its own, then runs the module's ``__main__`` as ``python -m`` does; the service's own
modules are imported only then, after its environment is set, so none of them is configured by
another process's settings. What a fork cannot give: settings the C runtime reads when a program
starts (the gateway image's ``MALLOC_ARENA_MAX``) do not apply. ``dev.py up`` and
``python -m bench`` start processes cold.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
from functools import cache
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Protocol

ENV_SWITCH = "MEDIALAB_FORK_SERVICES"
# Imported once by the fork server: libraries only, and none that reads the environment at import.
PRELOAD = (
    "aiohttp.web",
    "asyncpg",
    "fastapi",  # the emulators
    "httpx",
    "nats.js",
    "PIL.Image",
    "prometheus_client",
    "pydantic_settings",
    "uvicorn",  # the emulators
)


class ProcessHandle(Protocol):
    """What ``ServiceProcess`` needs of a started process: ``subprocess.Popen`` has it."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH) == "1"


@cache
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _run_module(module: str, args: list[str], env: dict[str, str], log_path: str) -> None:
    """In the forked child: become what ``python -m module *args`` with ``env`` would be."""
    os.setsid()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        # multiprocessing ends its children with os._exit: the service's own exit hooks
        # (logging's flush among them) run here, as they would at a cold process's exit.
        atexit._run_exitfuncs()


class ForkedProcess:
    """A service process forked by the fork server, driven like ``subprocess.Popen``."""

    def __init__(self, module: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        # Daemonic: a process a failed test left running is terminated when its pytest worker exits.
        self._process = _context().Process(
            target=_run_module, args=(module, args, env, str(log_path)), name=module, daemon=True
        )
        self._process.start()
        assert self._process.pid is not None
        self.pid: int = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(self._process.name, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:  # it exited since; the fork server has not told us yet
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
