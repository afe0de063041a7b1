"""The dev launcher behind ``python3 dev.py up``: the whole stack on one machine.

- ``NATS_URL`` unset → a private nats-server with JetStream, data in ``.medialab/nats``.
- ``DATABASE_URL`` unset → a private PostgreSQL (pgserver), data in ``.medialab/pg``.
- ``TG_BOT_TOKEN`` / ``FAL_KEYS`` (or ``FAL_KEY``) / ``WAVESPEED_API_KEY`` unset → sandbox mode for
  that provider: the project's emulator is started and the services are pointed at it.
A second run reuses ``.medialab`` (balances survive). Ctrl-C or SIGTERM stops everything started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from medialab_devstack.nats_server import NatsServer, admin_url
from medialab_devstack.ports import free_port
from medialab_devstack.postgres import EmbeddedPostgres
from medialab_devstack.stack import ServiceProcess

SANDBOX_BOT_TOKEN = "100000001:SANDBOX-medialab-bot-token"
SANDBOX_FAL_KEY = "sandbox-key-id:sandbox-key-secret"
SANDBOX_WAVESPEED_KEY = "sandbox-wavespeed-key"
SANDBOX_USER_ID = 1001

SERVICE_ORDER = ("billing", "fal-runner", "wavespeed-runner", "text-render", "prompt-llm", "gateway-bot")


@dataclass
class Stack:
    """The one way to start MediaLab's processes, for ``dev.py up``, the e2e and chaos suites and the
    benchmarks.

    ``env`` is what every process gets: settings already in it are used as they are (a configured
    ``NATS_URL``, ``DATABASE_URL`` or provider key starts nothing), each ``start_*`` of an emulator
    wires its provider's settings into it once, and ``launch``'s keyword arguments add settings of one
    process only.
    """

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    # How long the emulators' jobs take; None keeps each emulator's own default (1 s).
    fal_run_seconds: float | None = None
    wavespeed_processing_seconds: float | None = None
    nats: NatsServer | None = None
    postgres: EmbeddedPostgres | None = None
    emulators: list[ServiceProcess] = field(default_factory=list)
    services: list[ServiceProcess] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    # ----- infrastructure ---------------------------------------------------------------------
    def start_infrastructure(self) -> None:
        self.start_nats()
        self.start_postgres()

    def start_nats(self) -> None:
        if self.env.get("NATS_URL"):
            return
        self.nats = NatsServer(self.data_dir / "nats")
        self.nats.start()
        # Each service gets its own user from ServiceProcess; the admin password stays here.
        self.env["NATS_URL"] = self.nats.plain_url
        self.notes.append(
            f"embedded nats-server: {self.nats.plain_url} (data {self.nats.store_dir}; "
            "no anonymous access, per-run passwords)"
        )

    def start_postgres(self) -> None:
        if self.env.get("DATABASE_URL"):
            return
        self.postgres = EmbeddedPostgres(self.data_dir / "pg")
        self.postgres.start()
        self.env["DATABASE_URL"] = self.postgres.url("postgres")
        self.notes.append(f"embedded PostgreSQL: data {self.postgres.data_dir}")

    # ----- the outside world, emulated ----------------------------------------------------------
    def _emulator(self, name: str, module: str, args: list[str]) -> ServiceProcess:
        port = free_port()
        proc = ServiceProcess(
            name,
            {},
            self.log_dir,
            http_port=port,
            module=module,
            args=["--host", "127.0.0.1", "--port", str(port), *args],
        )
        proc.start()
        proc.wait_listening()
        self.emulators.append(proc)
        return proc

    def start_telegram(self, token: str = SANDBOX_BOT_TOKEN) -> None:
        tg = self._emulator("telegram-emulator", "medialab_sandbox.telegram", ["--token", token])
        self.use_telegram(tg.health_url, token)

    def use_telegram(self, url: str, token: str) -> None:
        """Point the gateway at a Telegram Bot API emulator, this stack's or one run elsewhere."""
        self.env["TG_BOT_TOKEN"] = token
        self.env["TELEGRAM_API_BASE"] = url
        self.notes.append(f"sandbox Telegram Bot API: {url}")

    def start_fal(self, key: str = SANDBOX_FAL_KEY) -> None:
        args = ["--keys", key]
        if self.fal_run_seconds is not None:
            args += ["--run-seconds", str(self.fal_run_seconds)]
        fal = self._emulator("fal-emulator", "medialab_sandbox.fal", args)
        self.use_fal(fal.health_url, f'["{key}"]')

    def use_fal(self, url: str, keys: str) -> None:
        """Point fal-runner at a fal emulator (``url`` without /queue), ``keys`` in ``FAL_KEYS`` form."""
        self.env["FAL_KEYS"] = keys
        self.env["FAL_QUEUE_BASE"] = f"{url}/queue"
        self.env["FAL_REST_BASE"] = f"{url}/rest"
        self.env["FAL_OUTPUT_HOSTS"] = "127.0.0.1"  # outputs come from the emulator's own CDN
        self.notes.append(f"sandbox fal.ai: {url}")

    def start_wavespeed(self, key: str = SANDBOX_WAVESPEED_KEY) -> None:
        args = ["--keys", key]
        if self.wavespeed_processing_seconds is not None:
            args += ["--processing-seconds", str(self.wavespeed_processing_seconds)]
        ws = self._emulator("wavespeed-emulator", "medialab_sandbox.wavespeed", args)
        self.use_wavespeed(ws.health_url, key)

    def use_wavespeed(self, url: str, key: str) -> None:
        self.env["WAVESPEED_API_KEY"] = key
        self.env["WAVESPEED_API_BASE"] = url
        self.env["WAVESPEED_OUTPUT_HOSTS"] = "127.0.0.1"
        self.notes.append(f"sandbox WaveSpeedAI: {url}")

    def start_sandboxes(self) -> None:
        """An emulator for every provider not configured in ``env``."""
        env = self.env
        if not env.get("TG_BOT_TOKEN"):
            self.start_telegram()
            env.setdefault("ADMIN_IDS", f"[{SANDBOX_USER_ID}]")
        if not env.get("FAL_KEYS") and not env.get("FAL_KEY"):
            self.start_fal()
        elif env.get("FAL_KEY") and not env.get("FAL_KEYS"):
            env["FAL_KEYS"] = f'["{env["FAL_KEY"]}"]'
        if not env.get("WAVESPEED_API_KEY"):
            self.start_wavespeed()

    # ----- services -----------------------------------------------------------------------------
    def launch(self, name: str, **extra_env: str) -> ServiceProcess:
        """Start one service process (another replica if it runs already) without waiting for it."""
        proc = ServiceProcess(name, {**self.env, **extra_env}, self.log_dir)
        proc.start()
        self.services.append(proc)
        return proc

    def start_service(self, name: str, timeout: float = 90, **extra_env: str) -> ServiceProcess:
        """``launch`` and wait until it is ready (blocking: from async code, in a thread)."""
        proc = self.launch(name, **extra_env)
        proc.wait_ready(timeout)
        return proc

    def start_services(self, names: tuple[str, ...] = SERVICE_ORDER) -> None:
        for name in names:
            self.launch(name)
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        for proc in self.services:
            proc.wait_ready(timeout=timeout)

    def service(self, name: str) -> ServiceProcess:
        """The one process of service ``name`` (several replicas: see ``replicas``)."""
        (proc,) = self.replicas(name)
        return proc

    def replicas(self, name: str) -> list[ServiceProcess]:
        return [proc for proc in self.services if proc.name == name]

    # ----- where things are ---------------------------------------------------------------------
    @property
    def nats_url(self) -> str:
        """The admin URL, for a test's or a tool's own clients; the services connect as their own users."""
        return admin_url(self.env["NATS_URL"])

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def telegram_url(self) -> str:
        return self.env["TELEGRAM_API_BASE"]

    @property
    def fal_url(self) -> str:
        return self.env["FAL_QUEUE_BASE"].removesuffix("/queue")

    @property
    def wavespeed_url(self) -> str:
        return self.env["WAVESPEED_API_BASE"]

    def stop(self) -> None:
        for proc in reversed(self.services):
            proc.stop()
        for proc in reversed(self.emulators):
            proc.stop(timeout=5)
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def banner(self) -> str:
        lines = ["", "MediaLab is up.", *(f"  {note}" for note in self.notes), "", "Health ports:"]
        lines += [f"  {p.name:<17} {p.health_url}/healthz  /readyz  /metrics" for p in self.services]
        lines += [f"  logs: {self.log_dir}"]
        if self.env.get("TG_BOT_TOKEN") == SANDBOX_BOT_TOKEN:
            lines += [
                "",
                "Talk to the bot (sandbox mode), in another terminal:",
                f"  {sys.executable} -m medialab_sandbox.telegram.chat "
                f"--api {self.env['TELEGRAM_API_BASE']} --token {SANDBOX_BOT_TOKEN} "
                f"--user-id {SANDBOX_USER_ID} --downloads {self.data_dir / 'downloads'}",
            ]
        lines += ["", "Press Ctrl-C to stop everything."]
        return "\n".join(lines)


def up(data_dir: Path) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # Settings in ./.env count as configured too (the services read it themselves), so a token put
    # there is used instead of a sandbox; the real environment wins over the file.
    configured = {**dotenv_values(".env"), **os.environ}
    stack = Stack(data_dir=data_dir, env={k: v for k, v in configured.items() if v})
    try:
        stack.start_infrastructure()
        stack.start_sandboxes()
        stack.start_services()
        print(stack.banner(), flush=True)
        while not stop.wait(1.0):
            for proc in stack.services:
                if not proc.alive():
                    print(f"{proc.name} exited; restarting. Last log lines:\n{proc.log_tail(10)}", flush=True)
                    proc.start()
        return 0
    finally:
        print("stopping…", flush=True)
        stack.stop()
