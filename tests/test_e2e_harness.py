"""The end-to-end stack for gateway tests: real processes, real NATS, the Telegram emulator over HTTP.

Each e2e module builds one ``Stack`` in a module-scoped fixture (processes are slow to start) and
gives every test its own Telegram users, so tests of a module never see each other's chats.
Imported by the other ``test_e2e_*`` modules; it holds no tests itself.

``MEDIALAB_E2E_NATS_NODES=3`` runs the stacks on a three-node NATS cluster (every service given the three
URLs and ``NATS_REPLICAS=3``) instead of one nats-server: the same tests, on the production topology.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import httpx
from aiohttp import web
from medialab_devstack.nats_server import NatsCluster, NatsServer
from medialab_devstack.ports import free_port, wait_for_port
from medialab_devstack.postgres import fresh_database_name, with_database
from medialab_devstack.stack import ServiceProcess
from medialab_sandbox.telegram import EmulatorControl, TelegramUserClient, TranscriptMessage
from PIL import Image

TOKEN = "123456789:SANDBOX-token-for-tests"
FAL_KEY = "e2e-key:e2e-secret"
WAVESPEED_KEY = "e2e-wavespeed-key"
ADMIN_ID = 777_000
WEBHOOK_SECRET = "e2e-webhook-secret"
YOOKASSA_SHOP_ID = "100500"
YOOKASSA_SECRET_KEY = "test_e2e-yookassa-secret"
_user_ids = itertools.count(100_001)
NATS_NODES = int(os.environ.get("MEDIALAB_E2E_NATS_NODES", "1"))


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (40, 160, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n") and Image.open(io.BytesIO(data)).format == "PNG"


async def create_database(admin_url: str) -> str:
    name = fresh_database_name("e2e")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


class _Emulator:
    """A sandbox emulator run as its own process (``python -m medialab_sandbox.<kind>``)."""

    def __init__(self, args: list[str], log_path: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", *args, "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(port, timeout=30)

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@dataclass
class Stack:
    root: Path
    admin_pg_url: str
    nats: NatsServer | NatsCluster = field(init=False)
    telegram: _Emulator = field(init=False)
    fal: _Emulator | None = None
    wavespeed: _Emulator | None = None
    yookassa: _Emulator | None = None
    payments_webhook_port: int | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    database_url: str | None = None

    def __post_init__(self) -> None:
        self.nats = (
            NatsCluster(self.root / "nats", NATS_NODES) if NATS_NODES > 1 else NatsServer(self.root / "nats")
        )
        self.nats.start()
        self.telegram = _Emulator(
            ["medialab_sandbox.telegram", "--token", TOKEN, "--log-level", "WARNING"],
            self.root / "telegram-emulator.log",
            free_port(),
        )

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def _start(self, name: str, module_name: str, env: dict[str, str]) -> ServiceProcess:
        env = {
            "NATS_URL": self.nats.url,
            "NATS_REPLICAS": str(min(NATS_NODES, 3)),
            "LOG_FORMAT": "text",
            **env,
        }
        process = ServiceProcess(name, env, self.logs, module=module_name)
        process.start()
        self.services[f"{name}-{process.instance}"] = process
        return process

    def start_billing(self, **extra: str) -> ServiceProcess:
        if self.database_url is None:
            self.database_url = asyncio.run(create_database(self.admin_pg_url))
        env = {
            "DATABASE_URL": self.database_url,
            "ADMIN_IDS": str(ADMIN_ID),
            "SWEEPER_INTERVAL_S": "1",
            **extra,
        }
        return self._start("billing", "billing", env)

    def start_fal(self, run_seconds: float = 0.2) -> None:
        self.fal = _Emulator(
            ["medialab_sandbox.fal", "--keys", FAL_KEY, "--run-seconds", str(run_seconds)],
            self.root / "fal-emulator.log",
            free_port(),
        )

    def start_fal_runner(self) -> ServiceProcess:
        assert self.fal is not None, "start_fal() first"
        env = {
            "FAL_KEYS": FAL_KEY,
            "FAL_QUEUE_BASE": f"{self.fal.url}/queue",
            "FAL_REST_BASE": f"{self.fal.url}/rest",
            "FAL_OUTPUT_HOSTS": "127.0.0.1",
        }
        return self._start("fal-runner", "fal_runner", env)

    def start_wavespeed(self) -> ServiceProcess:
        self.wavespeed = _Emulator(
            ["medialab_sandbox.wavespeed", "--keys", WAVESPEED_KEY, "--processing-seconds", "0.2"],
            self.root / "wavespeed-emulator.log",
            free_port(),
        )
        env = {
            "WAVESPEED_API_KEY": WAVESPEED_KEY,
            "WAVESPEED_API_BASE": self.wavespeed.url,
            "WAVESPEED_OUTPUT_HOSTS": "127.0.0.1",
            "WAVESPEED_POLL_INTERVAL_S": "0.1",
        }
        return self._start("wavespeed-runner", "wavespeed_runner", env)

    def start_yookassa(self) -> None:
        """The YooKassa emulator, sending its notifications to the payments service's webhook port."""
        self.payments_webhook_port = free_port()
        webhook = f"http://127.0.0.1:{self.payments_webhook_port}/yookassa/webhook"
        self.yookassa = _Emulator(
            [
                "medialab_sandbox.yookassa",
                *("--shop-id", YOOKASSA_SHOP_ID, "--secret-key", YOOKASSA_SECRET_KEY),
                *("--webhook-url", webhook, "--webhook-retry-s", "0.2", "--log-level", "WARNING"),
            ],
            self.root / "yookassa-emulator.log",
            free_port(),
        )

    def start_payments(self, **extra: str) -> ServiceProcess:
        assert self.yookassa is not None and self.payments_webhook_port, "start_yookassa() first"
        env = {
            "YOOKASSA_SHOP_ID": YOOKASSA_SHOP_ID,
            "YOOKASSA_SECRET_KEY": YOOKASSA_SECRET_KEY,
            "YOOKASSA_API_BASE": self.yookassa.url,
            "YOOKASSA_RETRY_BASE_S": "0.1",
            "YOOKASSA_WEBHOOK_PORT": str(self.payments_webhook_port),
            "RECONCILE_INTERVAL_S": "1",
            "RECONCILE_AFTER_S": "0",
            "SHUTDOWN_GRACE_S": "3",
            **extra,
        }
        return self._start("payments", "payments", env)

    def start_full(self, **gateway_env: str) -> None:
        """Every service of the product, providers emulated."""
        self.start_billing()
        self.start_fal()
        self.start_fal_runner()
        self.start_wavespeed()
        self._start("text-render", "text_render", {})
        self._start("prompt-llm", "prompt_llm", {})
        self.start_gateway(**gateway_env)

    def gateway_env(self, **extra: str) -> dict[str, str]:
        return {
            "TG_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": self.telegram.url,
            "ADMIN_IDS": str(ADMIN_ID),
            "ALBUM_DEBOUNCE_S": "0.5",
            "PROGRESS_INTERVAL_S": "2",
            "SHUTDOWN_GRACE_S": "3",
            **extra,
        }

    def start_gateway(self, **extra: str) -> ServiceProcess:
        return self._start("gateway-bot", "gateway_bot", self.gateway_env(**extra))

    def wait_ready(self) -> None:
        for process in self.services.values():
            process.wait_ready(timeout=90)

    def user(self, user_id: int | None = None, **profile: str) -> TelegramUserClient:
        return TelegramUserClient(self.telegram.url, TOKEN, user_id=user_id or next(_user_ids), **profile)

    def control(self) -> EmulatorControl:
        return EmulatorControl(self.telegram.url, TOKEN)

    def close(self) -> None:
        for process in self.services.values():
            process.stop(timeout=15)
        for emulator in (self.fal, self.wavespeed, self.yookassa):
            if emulator is not None:
                emulator.stop()
        self.telegram.stop()
        self.nats.stop()


def build_stack(root: Path, admin_pg_url: str, build: Callable[[Stack], None]) -> Stack:
    stack = Stack(root, admin_pg_url)
    try:
        build(stack)
        stack.wait_ready()
    except BaseException:
        stack.close()
        raise
    return stack


# ── talking to the bot as a user ─────────────────────────────────────────────────────────────────
def button_texts(message: TranscriptMessage) -> list[str]:
    markup = message.reply_markup or {}
    rows = markup.get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


def keyboard_texts(markup: dict | None) -> list[str]:
    rows = (markup or {}).get("keyboard") or []
    return [button["text"] if isinstance(button, dict) else button for row in rows for button in row]


def text_of(message: TranscriptMessage) -> str:
    return message.text or message.caption or ""


def contains(fragment: str) -> Callable[[TranscriptMessage], bool]:
    return lambda message: fragment in text_of(message)


def is_document(message: TranscriptMessage) -> bool:
    return message.document is not None


async def reply(
    user: TelegramUserClient, predicate: Callable[[TranscriptMessage], bool], timeout: float = 15
):
    return await user.wait_for_reply(predicate, timeout=timeout)


async def press(user: TelegramUserClient, message: TranscriptMessage, label: str) -> str:
    matching = [text for text in button_texts(message) if label in text]
    assert matching, f"no button {label!r} in {button_texts(message)}"
    return await user.press_button(message.message_id, text=matching[0])


async def wait_document(user: TelegramUserClient, timeout: float = 30) -> TranscriptMessage:
    return await user.wait_for_message(predicate=is_document, timeout=timeout)


async def balance_available(user: TelegramUserClient) -> int:
    """Available balance in kopecks, read the way a user reads it: /balance."""
    await user.send_command("balance")
    message = await reply(user, contains("Доступно"))
    match = re.search(r"Доступно: (−?[\d\u00a0]+(?:,\d\d)?) ₽", text_of(message))
    assert match, text_of(message)
    rubles = match.group(1).replace("\u00a0", "").replace("−", "-")
    whole, _, frac = rubles.partition(",")
    return int(whole) * 100 + (int(frac) if frac else 0) * (-1 if whole.startswith("-") else 1)


class RoundRobinProxy:
    """A load balancer in front of gateway replicas: each webhook call goes to the next replica.

    Runs its own event loop in a thread so it outlives each test's loop. ``hits`` records which
    replica got which update; with ``duplicate`` set, every update is also sent to the other replica.
    """

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.port = free_port()
        self.hits: list[tuple[int, int]] = []
        self.duplicate = False
        self._count = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="webhook-proxy", daemon=True)
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        async with aiohttp.ClientSession() as self._session:
            await self._stopping.wait()
        await runner.cleanup()

    async def _post(self, index: int, path: str, body: bytes, headers: dict[str, str]) -> web.Response:
        async with self._session.post(f"{self.targets[index]}{path}", data=body, headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read())

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower().startswith(("x-telegram", "content-type"))
        }
        index = next(self._count) % len(self.targets)
        update_id = int(json.loads(body).get("update_id", -1))
        self.hits.append((index, update_id))
        if self.duplicate:
            other = (index + 1) % len(self.targets)
            self.hits.append((other, update_id))
            await self._post(other, request.path, body, headers)
        return await self._post(index, request.path, body, headers)


async def script_llm(stack: Stack, *outputs: str) -> None:
    """The next answers of the emulated LLM (fal's openrouter/router), in order."""
    assert stack.fal is not None
    async with httpx.AsyncClient() as client:
        items = {"items": [{"output": output} for output in outputs]}
        (await client.post(f"{stack.fal.url}/_emu/llm/script", json=items)).raise_for_status()
