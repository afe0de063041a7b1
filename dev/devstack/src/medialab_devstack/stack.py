"""Service processes of the stack: start, wait until ready, stop gracefully, or kill.

Used by the dev launcher and by tests that need real processes (restarts, SIGKILL).

Services bind their health port themselves (``HTTP_PORT=0``) and log it ("health port N"), the
emulators theirs (``--port 0``) and announce it ("... listening on http://HOST:N"); the port is read
back from the log. Picking a free port here and handing it over would race with every other process
starting on the machine during the child's seconds of imports: two emulators of one stack, started
side by side, were once handed the same port, and the one that lost the bind left its URL to the other.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from medialab_devstack import forked
from medialab_devstack.nats_server import service_credentials
from medialab_devstack.ports import wait_for_port

_PORT_LINE = re.compile(r"health port (\d+)|listening on http://[\w.-]+:(\d+)")
_instances = itertools.count(1)

SERVICE_MODULES: dict[str, str] = {
    "billing": "billing",
    "fal-runner": "fal_runner",
    "wavespeed-runner": "wavespeed_runner",
    "text-render": "text_render",
    "prompt-llm": "prompt_llm",
    "gateway-bot": "gateway_bot",
    "payments": "payments",
}


# Process settings a service is launched with, as its image sets them (deploy/Dockerfile); the shell's
# environment and the caller's ``env`` win over them.
SERVICE_PROCESS_ENV: dict[str, dict[str, str]] = {
    # One glibc malloc arena instead of one per thread: the gateway allocates almost only on its event
    # loop thread, and the memory its short-lived worker threads (image checks, DNS) freed in arenas of
    # their own stayed in its RSS. Measured under `python -m bench load --users 50`: ~4 MB lower peak.
    "gateway_bot": {"MALLOC_ARENA_MAX": "1"},
}


class ServiceProcess:
    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_dir: Path,
        http_port: int | None = None,
        module: str | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.name = name
        self.module = module or SERVICE_MODULES[name]
        self.env = env
        self.log_dir = log_dir
        self._fixed_port = http_port
        self.http_port = http_port or 0
        self.args = args or []
        self.instance = next(_instances)
        self._log_offset = 0
        self._proc: forked.ProcessHandle | None = None
        self._terminated = False

    @property
    def health_url(self) -> str:
        if not self.http_port:
            raise RuntimeError(f"{self.name}: health port not known yet; call wait_ready() first")
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{os.getpid()}-{self.instance}.log"

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.http_port = self._fixed_port or 0
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {
            **SERVICE_PROCESS_ENV.get(self.module, {}),
            **os.environ,
            "LOG_FORMAT": "json",
            **self.env,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.http_port),
        }
        if "NATS_USER" not in env and "NATS_URL" in env:
            # Against a server this process started, a service connects as its own NATS user, as in
            # production, even when the caller handed it the admin URL.
            env.update(service_credentials(env["NATS_URL"], self.module.replace("_", "-")))
        self._terminated = False
        if forked.enabled():
            self._proc = forked.ForkedProcess(self.module, self.args, env, self.log_path)
            return
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _discover_port(self) -> int:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                found = _PORT_LINE.search(log.read().decode(errors="replace"))
        except FileNotFoundError:
            return 0
        return int(found.group(1) or found.group(2)) if found else 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early; log: {self.log_tail()}")
            if not self.http_port:
                self.http_port = self._discover_port()
                if not self.http_port:
                    time.sleep(0.05)
                    continue
            try:
                if httpx.get(f"{self.health_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; log: {self.log_tail()}")

    def wait_listening(self, timeout: float = 30.0) -> None:
        """For processes without /readyz (the emulators): ready once they announced their port and it
        accepts."""
        deadline = time.monotonic() + timeout
        while not self.http_port:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early; log: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} announced no port after {timeout}s; log: {self.log_tail()}")
            self.http_port = self._discover_port()
            if not self.http_port:
                time.sleep(0.05)
        wait_for_port(self.http_port, timeout=max(deadline - time.monotonic(), 1.0), alive=self.alive)

    def terminate(self) -> None:
        """SIGTERM, once: the process starts its graceful exit (``stop`` waits for it)."""
        if self._proc is not None and self._proc.poll() is None and not self._terminated:
            self._proc.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for a graceful exit, SIGKILL if it does not come."""
        if self._proc is None:
            return None
        self.terminate()
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        code = self._proc.returncode
        self._proc = None
        return code

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start()
        self.wait_ready(timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def stop_all(procs: list[ServiceProcess], timeout: float = 20.0) -> None:
    """Stop processes together: SIGTERM to each at once, then wait for each (SIGKILL past ``timeout``),
    so their graceful exits overlap instead of adding up."""
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.stop(timeout=max(0.0, deadline - time.monotonic()))
