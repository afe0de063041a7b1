"""The dev launcher behind ``python3 dev.py up``: the whole stack on one machine.

- ``NATS_URL`` unset → a private nats-server with JetStream, data in ``.medialab/nats``; with
  ``--nats-cluster 3`` a three-node cluster on loopback instead (data in ``.medialab/nats-cluster``), every
  service given the three URLs and ``NATS_REPLICAS=3``.
- ``DATABASE_URL`` unset → a private PostgreSQL (pgserver), data in ``.medialab/pg``.
- ``TG_BOT_TOKEN`` / ``FAL_KEYS`` (or ``FAL_KEY``) / ``WAVESPEED_API_KEY`` /
  ``YOOKASSA_SHOP_ID`` + ``YOOKASSA_SECRET_KEY`` unset → sandbox mode for that provider: the project's
  emulator is started and the services are pointed at it (the YooKassa emulator's payment pages pay
  with a click and notify the payments service).
- ``JOB_SIGNING_KEY`` unset → a random one for this run, given to billing (which signs every job it
  queues) and the job consumers (which run only signed jobs), as production has them.
A second run reuses ``.medialab`` (balances survive). Ctrl-C or SIGTERM stops everything started.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values
from medialab_sandbox.telegram.webchat import webchat_url
from medialab_sandbox.wavespeed import AccountLevel

from medialab_devstack.nats_server import NatsCluster, NatsServer, admin_url
from medialab_devstack.ports import free_port
from medialab_devstack.postgres import EmbeddedPostgres
from medialab_devstack.stack import ServiceProcess, stop_all

SANDBOX_BOT_TOKEN = "100000001:SANDBOX-medialab-bot-token"
SANDBOX_FAL_KEY = "sandbox-key-id:sandbox-key-secret"
SANDBOX_WAVESPEED_KEY = "sandbox-wavespeed-key"
SANDBOX_WAVESPEED_LEVEL = AccountLevel.SILVER
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
# Either end of the JOBS stream: billing signs every job it queues, the consumers run only signed jobs.
JOB_SIGNING_SERVICES = frozenset({"billing", "fal-runner", "wavespeed-runner", "text-render", "prompt-llm"})


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
    yookassa_webhook_retry_s: float | None = None
    # Messages per second to one chat that the Telegram emulator allows and the gateway keeps to;
    # None keeps Telegram's own (about 1), which makes a conversation of 20 messages last 20 s.
    telegram_chat_per_s: float | None = None
    # nats-server nodes to start when NATS_URL is unset: 1 a single server, more a cluster on loopback.
    nats_nodes: int = 1
    # Set by ``sign_jobs``: the key billing and the job consumers get; None leaves jobs unsigned.
    job_signing_key: str | None = None
    nats: NatsServer | NatsCluster | None = None
    postgres: EmbeddedPostgres | None = None
    emulators: list[ServiceProcess] = field(default_factory=list)
    services: list[ServiceProcess] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Inside ``start_sandboxes``: emulators are waited for together, once all are started.
    _starting_sandboxes: bool = field(default=False, init=False, repr=False)
    # Emulators started whose URL is not wired into ``env`` yet, each with what wires it.
    _announcing: list[tuple[ServiceProcess, Callable[[str], None]]] = field(
        default_factory=list, init=False, repr=False
    )

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

    def sign_jobs(self) -> None:
        """Billing signs the jobs it queues and the job consumers run only signed ones, as in production,
        with ``JOB_SIGNING_KEY`` from ``env`` or a key made for this run (like the NATS passwords).

        Not for stacks whose tests queue jobs on JOBS themselves (``JobBus``, the benchmarks): their
        runners get no key and run what they are given."""
        self.job_signing_key = self.env.get("JOB_SIGNING_KEY") or secrets.token_hex(32)
        self.notes.append("jobs signed by billing, checked by the runners (JOB_SIGNING_KEY of this run)")

    def start_postgres(self) -> None:
        if self.env.get("DATABASE_URL"):
            return
        self.postgres = EmbeddedPostgres(self.data_dir / "pg")
        self.postgres.start()
        self.env["DATABASE_URL"] = self.postgres.url("postgres")
        self.notes.append(f"embedded PostgreSQL: data {self.postgres.data_dir}")

    # ----- the outside world, emulated ----------------------------------------------------------
    def _emulator(self, name: str, module: str, args: list[str], use: Callable[[str], None]) -> None:
        """Start an emulator on a port of its own choosing; ``use`` gets its URL once it announced it
        (inside ``start_sandboxes``, after all of them were started)."""
        proc = ServiceProcess(
            name, {}, self.log_dir, module=module, args=["--host", "127.0.0.1", "--port", "0", *args]
        )
        proc.start()
        self.emulators.append(proc)
        self._announcing.append((proc, use))
        if not self._starting_sandboxes:
            self._use_announced()

    def _use_announced(self) -> None:
        while self._announcing:
            proc, use = self._announcing.pop(0)
            proc.wait_listening()
            use(proc.health_url)

    def start_telegram(self, token: str = SANDBOX_BOT_TOKEN) -> None:
        args = ["--token", token]
        if self.telegram_chat_per_s is not None:
            args += ["--chat-per-second", str(self.telegram_chat_per_s)]
            self.env["TG_CHAT_PER_S"] = str(self.telegram_chat_per_s)
        self._emulator(
            "telegram-emulator", "medialab_sandbox.telegram", args, lambda url: self.use_telegram(url, token)
        )

    def use_telegram(self, url: str, token: str) -> None:
        """Point the gateway at a Telegram Bot API emulator, this stack's or one run elsewhere."""
        self.env["TG_BOT_TOKEN"] = token
        self.env["TELEGRAM_API_BASE"] = url
        self.notes.append(f"sandbox Telegram Bot API: {url}")

    def start_fal(self, key: str = SANDBOX_FAL_KEY) -> None:
        args = ["--keys", key]
        if self.fal_run_seconds is not None:
            args += ["--run-seconds", str(self.fal_run_seconds)]
        self._emulator(
            "fal-emulator", "medialab_sandbox.fal", args, lambda url: self.use_fal(url, f'["{key}"]')
        )

    def use_fal(self, url: str, keys: str) -> None:
        """Point fal-runner at a fal emulator (``url`` without /queue), ``keys`` in ``FAL_KEYS`` form."""
        self.env["FAL_KEYS"] = keys
        self.env["FAL_QUEUE_BASE"] = f"{url}/queue"
        self.env["FAL_REST_BASE"] = f"{url}/rest"
        self.env["FAL_OUTPUT_HOSTS"] = "127.0.0.1"  # outputs come from the emulator's own CDN
        self.notes.append(f"sandbox fal.ai: {url}")

    def start_wavespeed(self, key: str = SANDBOX_WAVESPEED_KEY) -> None:
        """The WaveSpeed emulator, playing a Silver account, and wavespeed-runner held to that account's
        limits unless ``env`` sets them (the runner's own defaults are a new account's 2 and 2)."""
        limits = SANDBOX_WAVESPEED_LEVEL.limits
        self.env.setdefault("WAVESPEED_MAX_IN_PROGRESS", str(limits.max_concurrency))
        self.env.setdefault("WAVESPEED_STARTS_PER_MINUTE", str(limits.starts_per_minute))
        args = ["--keys", key, "--level", SANDBOX_WAVESPEED_LEVEL.value]
        if self.wavespeed_processing_seconds is not None:
            args += ["--processing-seconds", str(self.wavespeed_processing_seconds)]
        self._emulator(
            "wavespeed-emulator", "medialab_sandbox.wavespeed", args, lambda url: self.use_wavespeed(url, key)
        )

    def use_wavespeed(self, url: str, key: str) -> None:
        self.env["WAVESPEED_API_KEY"] = key
        self.env["WAVESPEED_API_BASE"] = url
        self.env["WAVESPEED_OUTPUT_HOSTS"] = "127.0.0.1"
        self.notes.append(f"sandbox WaveSpeedAI: {url}")

    def start_yookassa(self) -> None:
        """The YooKassa emulator, notifying the payments service's webhook port (chosen here)."""
        port = int(self.env.get("YOOKASSA_WEBHOOK_PORT") or free_port())
        webhook = f"http://127.0.0.1:{port}/yookassa/webhook"
        args = ["--shop-id", SANDBOX_YOOKASSA_SHOP_ID, "--secret-key", SANDBOX_YOOKASSA_SECRET_KEY]
        args += ["--webhook-url", webhook]
        if self.yookassa_webhook_retry_s is not None:
            args += ["--webhook-retry-s", str(self.yookassa_webhook_retry_s)]
        self.env["YOOKASSA_SHOP_ID"] = SANDBOX_YOOKASSA_SHOP_ID
        self.env["YOOKASSA_SECRET_KEY"] = SANDBOX_YOOKASSA_SECRET_KEY
        self.env["YOOKASSA_WEBHOOK_PORT"] = str(port)
        self._emulator("yookassa-emulator", "medialab_sandbox.yookassa", args, self._use_yookassa)

    def _use_yookassa(self, url: str) -> None:
        self.env["YOOKASSA_API_BASE"] = url
        self.notes.append(f"sandbox YooKassa: {url} (open a payment link to pay it)")

    def start_sandboxes(self) -> None:
        """An emulator for every provider not configured in ``env``, started side by side."""
        self._starting_sandboxes = True
        try:
            self._start_sandboxes()
        finally:
            self._starting_sandboxes = False
        self._use_announced()

    def _start_sandboxes(self) -> None:
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
        if not (env.get("YOOKASSA_SHOP_ID") and env.get("YOOKASSA_SECRET_KEY")):
            self.start_yookassa()
        # Card and SBP top-ups are offered whenever the payments service has keys (real or sandbox).
        env.setdefault("YOOKASSA_ENABLED", "true")

    # ----- services -----------------------------------------------------------------------------
    def launch(self, name: str, **extra_env: str) -> ServiceProcess:
        """Start one service process (another replica if it runs already) without waiting for it."""
        env = {**self.env, **extra_env}
        if self.job_signing_key is not None and name in JOB_SIGNING_SERVICES:
            env.setdefault("JOB_SIGNING_KEY", self.job_signing_key)  # the others never see it
        proc = ServiceProcess(name, env, self.log_dir)
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

    @property
    def yookassa_url(self) -> str:
        return self.env["YOOKASSA_API_BASE"]

    @property
    def payments_webhook_port(self) -> int:
        return int(self.env["YOOKASSA_WEBHOOK_PORT"])

    def stop(self) -> None:
        stop_all(self.services)
        stop_all(self.emulators, timeout=5)
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
        stack.sign_jobs()
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
