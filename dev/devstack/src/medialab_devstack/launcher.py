"""The dev launcher behind ``python3 dev.py up``: the whole stack on one machine.

- ``NATS_URL`` unset → a private nats-server with JetStream, data in ``.medialab/nats``; with
  ``--nats-cluster 3`` a three-node cluster on loopback instead (data in ``.medialab/nats-cluster``), every
  service given the three URLs and ``NATS_REPLICAS=3``.
- ``DATABASE_URL`` unset → a private PostgreSQL (pgserver), data in ``.medialab/pg``.
- ``TG_BOT_TOKEN`` / ``FAL_KEYS`` (or ``FAL_KEY``) / ``WAVESPEED_API_KEY`` /
  ``YOOKASSA_SHOP_ID`` + ``YOOKASSA_SECRET_KEY`` unset → sandbox mode for that provider: the project's
  emulator is started and the services are pointed at it (the YooKassa emulator's payment pages pay
  with a click and notify the payments service).
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
from medialab_sandbox.telegram.webchat import webchat_url

from medialab_devstack.nats_server import NatsCluster, NatsServer
from medialab_devstack.ports import free_port
from medialab_devstack.postgres import EmbeddedPostgres
from medialab_devstack.stack import ServiceProcess

SANDBOX_BOT_TOKEN = "100000001:SANDBOX-medialab-bot-token"
SANDBOX_FAL_KEY = "sandbox-key-id:sandbox-key-secret"
SANDBOX_WAVESPEED_KEY = "sandbox-wavespeed-key"
SANDBOX_YOOKASSA_SHOP_ID = "100500"
SANDBOX_YOOKASSA_SECRET_KEY = "test_sandbox-yookassa-secret"
SANDBOX_USER_ID = 1001

# Copies of every stream on a cluster of that many nodes: three at most (what production runs).
MAX_REPLICAS = 3

SERVICE_ORDER = (
    "billing",
    "fal-runner",
    "wavespeed-runner",
    "text-render",
    "prompt-llm",
    "payments",
    "gateway-bot",
)


@dataclass
class Stack:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    # nats-server nodes to start when NATS_URL is unset: 1 a single server, more a cluster on loopback.
    nats_nodes: int = 1
    nats: NatsServer | NatsCluster | None = None
    postgres: EmbeddedPostgres | None = None
    emulators: list[ServiceProcess] = field(default_factory=list)
    services: list[ServiceProcess] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def start_infrastructure(self) -> None:
        if not self.env.get("NATS_URL"):
            if self.nats_nodes > 1:
                self.nats = NatsCluster(self.data_dir / "nats-cluster", self.nats_nodes)
                self.env.setdefault("NATS_REPLICAS", str(min(self.nats_nodes, MAX_REPLICAS)))
                kind = f"embedded {self.nats_nodes}-node nats cluster, {self.env['NATS_REPLICAS']} replicas"
            else:
                self.nats = NatsServer(self.data_dir / "nats")
                kind = "embedded nats-server"
            self.nats.start()
            # Each service gets its own user from ServiceProcess; the admin password stays here.
            self.env["NATS_URL"] = self.nats.plain_url
            self.notes.append(
                f"{kind}: {self.nats.plain_url} (data {self.nats.store_dir}; "
                "no anonymous access, per-run passwords)"
            )
        if not self.env.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.data_dir / "pg")
            self.postgres.start()
            self.env["DATABASE_URL"] = self.postgres.url("postgres")
            self.notes.append(f"embedded PostgreSQL: data {self.postgres.data_dir}")

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

    def start_sandboxes(self) -> None:
        env = self.env
        if not env.get("TG_BOT_TOKEN"):
            tg = self._emulator(
                "telegram-emulator", "medialab_sandbox.telegram", ["--token", SANDBOX_BOT_TOKEN]
            )
            env["TG_BOT_TOKEN"] = SANDBOX_BOT_TOKEN
            env["TELEGRAM_API_BASE"] = tg.health_url
            env.setdefault("ADMIN_IDS", f"[{SANDBOX_USER_ID}]")
            self.notes.append(f"sandbox Telegram Bot API: {tg.health_url}")
        if not env.get("FAL_KEYS") and not env.get("FAL_KEY"):
            fal = self._emulator("fal-emulator", "medialab_sandbox.fal", ["--keys", SANDBOX_FAL_KEY])
            env["FAL_KEYS"] = f'["{SANDBOX_FAL_KEY}"]'
            env["FAL_QUEUE_BASE"] = f"{fal.health_url}/queue"
            env["FAL_REST_BASE"] = f"{fal.health_url}/rest"
            env["FAL_OUTPUT_HOSTS"] = "127.0.0.1"  # outputs come from the emulator's own CDN
            self.notes.append(f"sandbox fal.ai: {fal.health_url}")
        elif env.get("FAL_KEY") and not env.get("FAL_KEYS"):
            env["FAL_KEYS"] = f'["{env["FAL_KEY"]}"]'
        if not env.get("WAVESPEED_API_KEY"):
            ws = self._emulator(
                "wavespeed-emulator", "medialab_sandbox.wavespeed", ["--keys", SANDBOX_WAVESPEED_KEY]
            )
            env["WAVESPEED_API_KEY"] = SANDBOX_WAVESPEED_KEY
            env["WAVESPEED_API_BASE"] = ws.health_url
            env["WAVESPEED_OUTPUT_HOSTS"] = "127.0.0.1"
            self.notes.append(f"sandbox WaveSpeedAI: {ws.health_url}")
        if not (env.get("YOOKASSA_SHOP_ID") and env.get("YOOKASSA_SECRET_KEY")):
            port = int(env.get("YOOKASSA_WEBHOOK_PORT") or free_port())
            webhook = f"http://127.0.0.1:{port}/yookassa/webhook"
            shop = ["--shop-id", SANDBOX_YOOKASSA_SHOP_ID, "--secret-key", SANDBOX_YOOKASSA_SECRET_KEY]
            yk = self._emulator(
                "yookassa-emulator", "medialab_sandbox.yookassa", [*shop, "--webhook-url", webhook]
            )
            env["YOOKASSA_SHOP_ID"] = SANDBOX_YOOKASSA_SHOP_ID
            env["YOOKASSA_SECRET_KEY"] = SANDBOX_YOOKASSA_SECRET_KEY
            env["YOOKASSA_API_BASE"] = yk.health_url
            env["YOOKASSA_WEBHOOK_PORT"] = str(port)
            self.notes.append(f"sandbox YooKassa: {yk.health_url} (open a payment link to pay it)")
        # Card and SBP top-ups are offered whenever the payments service has keys (real or sandbox).
        env.setdefault("YOOKASSA_ENABLED", "true")

    def start_services(self, names: tuple[str, ...] = SERVICE_ORDER) -> None:
        for name in names:
            proc = ServiceProcess(name, dict(self.env), self.log_dir)
            proc.start()
            self.services.append(proc)
        for proc in self.services:
            proc.wait_ready(timeout=90)

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
            web = webchat_url(self.env["TELEGRAM_API_BASE"], SANDBOX_BOT_TOKEN, SANDBOX_USER_ID)
            lines += [
                "",
                "Talk to the bot (sandbox mode) in a browser:",
                f"  {web}",
                "or in another terminal:",
                f"  {sys.executable} -m medialab_sandbox.telegram.chat "
                f"--api {self.env['TELEGRAM_API_BASE']} --token {SANDBOX_BOT_TOKEN} "
                f"--user-id {SANDBOX_USER_ID} --downloads {self.data_dir / 'downloads'}",
            ]
        lines += ["", "Press Ctrl-C to stop everything."]
        return "\n".join(lines)


def up(data_dir: Path, nats_nodes: int = 1) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # Settings in ./.env count as configured too (the services read it themselves), so a token put
    # there is used instead of a sandbox; the real environment wins over the file.
    configured = {**dotenv_values(".env"), **os.environ}
    stack = Stack(data_dir=data_dir, env={k: v for k, v in configured.items() if v}, nats_nodes=nats_nodes)
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
