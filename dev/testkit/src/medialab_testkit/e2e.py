"""The end-to-end stack for gateway tests: real processes, real NATS, the Telegram emulator over HTTP.

``Stack`` is the dev launcher's (``medialab_devstack.launcher.Stack``) with short timings. Each e2e
module builds one in a module-scoped fixture (processes are slow to start) and gives every test its
own Telegram users, so tests of a module never see each other's chats.

``MEDIALAB_E2E_NATS_NODES=3`` runs the stacks on a three-node NATS cluster (every service given the three
URLs and ``NATS_REPLICAS=3``) instead of one nats-server: the same tests, on the production topology.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiohttp import web
from medialab_devstack import launcher
from medialab_devstack.ports import wait_for_port
from medialab_devstack.postgres import fresh_database_name, with_database
from medialab_sandbox.telegram import EmulatorControl, TelegramUserClient, TranscriptMessage

# Re-exported: the e2e modules build their inputs from here.
from medialab_testkit.images import is_png as is_png
from medialab_testkit.images import jpeg_bytes as jpeg_bytes
from medialab_testkit.images import png_bytes as png_bytes
from medialab_testkit.waiting import eventually

TOKEN = launcher.SANDBOX_BOT_TOKEN
ADMIN_ID = 777_000
WEBHOOK_SECRET = "e2e-webhook-secret"
_user_ids = itertools.count(100_001)
NATS_NODES = int(os.environ.get("MEDIALAB_E2E_NATS_NODES", "1"))
# Flood control of one chat, in the emulator and the gateway alike: ten times Telegram's ~1 message a
# second, or every e2e conversation would spend a second a message waiting for it. The gateway still
# keeps to what the emulator allows (the emulator answers 429 otherwise); the limiter's behaviour at
# Telegram's own rate is the gateway's limiter tests' and the emulator's flood-control tests' to show.
TELEGRAM_CHAT_PER_S = 10.0

# Short timings of the services under test; a process's own settings go to ``Stack.launch``.
E2E_ENV: dict[str, str] = {
    "LOG_FORMAT": "text",
    "ADMIN_IDS": str(ADMIN_ID),
    "SHUTDOWN_GRACE_S": "3",
    # billing
    "SWEEPER_INTERVAL_S": "1",
    # wavespeed-runner
    "WAVESPEED_POLL_INTERVAL_S": "0.1",
    # gateway
    "ALBUM_DEBOUNCE_S": "0.5",
    "PROGRESS_INTERVAL_S": "2",
    # payments
    "YOOKASSA_RETRY_BASE_S": "0.1",
    "RECONCILE_INTERVAL_S": "1",
    "RECONCILE_AFTER_S": "0",
}


async def create_database(admin_url: str) -> str:
    name = fresh_database_name("e2e")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


class Stack(launcher.Stack):
    """The launcher's stack, talked to as Telegram users."""

    def user(
        self,
        user_id: int | None = None,
        first_name: str = "Тест",
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> TelegramUserClient:
        return TelegramUserClient(
            self.telegram_url,
            TOKEN,
            user_id=user_id or next(_user_ids),
            first_name=first_name,
            username=username,
            language_code=language_code,
        )

    def control(self) -> EmulatorControl:
        return EmulatorControl(self.telegram_url, TOKEN)

    async def fal_submits(self, model: str) -> list[dict[str, Any]]:
        """The requests the fal emulator took for ``model``, oldest first."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.fal_url}/_emu/submits", params={"model": model})
        submits: list[dict[str, Any]] = response.json()
        return submits


def build_stack(root: Path, admin_pg_url: str, build: Callable[[Stack], None]) -> Stack:
    """A private nats-server, a fresh database, the Telegram emulator, then what ``build`` starts;
    returns once every service is ready. Billing signs jobs and the runners check them (a per-stack
    ``JOB_SIGNING_KEY``)."""
    database_url = asyncio.run(create_database(admin_pg_url))
    stack = Stack(
        data_dir=root,
        env={**E2E_ENV, "DATABASE_URL": database_url},
        fal_run_seconds=0.2,
        wavespeed_processing_seconds=0.2,
        yookassa_webhook_retry_s=0.2,
        telegram_chat_per_s=TELEGRAM_CHAT_PER_S,
        nats_nodes=NATS_NODES,
    )
    try:
        stack.start_nats()
        stack.sign_jobs()  # jobs reach the runners only through billing, signed, as in production
        stack.start_telegram()
        build(stack)
        stack.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack


@contextmanager
def running_stack(root: Path, admin_pg_url: str, build: Callable[[Stack], None]) -> Iterator[Stack]:
    """``build_stack`` for a fixture: the stack, stopped when the block ends."""
    stack = build_stack(root, admin_pg_url, build)
    try:
        yield stack
    finally:
        stack.stop()


def fal_and_gateway(
    billing_env: dict[str, str] | None = None, gateway_env: dict[str, str] | None = None
) -> Callable[[Stack], None]:
    """The stack most gateway tests need: billing, the fal emulator, fal-runner and the gateway."""

    def build(stack: Stack) -> None:
        stack.launch("billing", **(billing_env or {}))
        stack.start_fal()
        stack.launch("fal-runner")
        stack.launch("gateway-bot", **(gateway_env or {}))

    return build


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
) -> TranscriptMessage:
    return await user.wait_for_reply(predicate, timeout=timeout)


async def press(user: TelegramUserClient, message: TranscriptMessage, label: str) -> str:
    matching = [text for text in button_texts(message) if label in text]
    assert matching, f"no button {label!r} in {button_texts(message)}"
    return await user.press_button(message.message_id, text=matching[0])


async def wait_document(user: TelegramUserClient, timeout: float = 30) -> TranscriptMessage:
    return await user.wait_for_message(predicate=is_document, timeout=timeout)


async def settled(
    user: TelegramUserClient, command: str, heading: str, fragment: str, args: str = "", timeout: float = 15
) -> TranscriptMessage:
    """The answer to ``/command`` (known by ``heading``) once it shows ``fragment``, asked again until
    then: billing settles a job from the same event the gateway delivers it from, so a result can
    reach the user a moment before its charge is written."""
    answers: list[TranscriptMessage] = []

    async def shows() -> bool:
        await user.send_command(command, args)
        answers.append(await reply(user, contains(heading)))
        return fragment in text_of(answers[-1])

    await eventually(shows, timeout=timeout, what=f"/{command} showing {fragment!r}", interval=0.3)
    return answers[-1]


async def balance_available(user: TelegramUserClient) -> int:
    """Available balance in kopecks, read the way a user reads it: /balance."""
    await user.send_command("balance")
    message = await reply(user, contains("Доступно"))
    match = re.search(r"Доступно: (−?[\d\u00a0]+(?:,\d\d)?) ₽", text_of(message))
    assert match, text_of(message)
    rubles = match.group(1).replace("\u00a0", "").replace("−", "-")
    whole, _, frac = rubles.partition(",")
    return int(whole) * 100 + (int(frac) if frac else 0) * (-1 if whole.startswith("-") else 1)


async def balance_back_to(user: TelegramUserClient, kopecks: int, timeout: float = 30) -> None:
    """Until the available balance is ``kopecks`` again: billing releases or refunds a job from the
    same event the gateway tells the user from, so the message can come first."""

    async def returned() -> bool:
        return await balance_available(user) == kopecks

    await eventually(
        returned, timeout=timeout, what=f"the available balance back to {kopecks} kopecks", interval=0.5
    )


class RoundRobinProxy:
    """A load balancer in front of gateway replicas: each webhook call goes to the next replica.

    Runs its own event loop in a thread so it outlives each test's loop. ``hits`` records which
    replica got which update; with ``duplicate`` set, every update is also sent to the other replica.
    """

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        # Bound here, not a free port picked for later: another process could take that first.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
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
        await web.SockSite(runner, self._socket).start()
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
    async with httpx.AsyncClient() as client:
        items = {"items": [{"output": output} for output in outputs]}
        (await client.post(f"{stack.fal_url}/_emu/llm/script", json=items)).raise_for_status()
