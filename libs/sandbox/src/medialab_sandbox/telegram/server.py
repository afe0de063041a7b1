"""The emulator as an app and as a running server (in-process or standalone)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from .bot_api import BotApi
from .client import EmulatorControl, TelegramUserClient
from .config import EmulatorConfig
from .faults import Faults
from .schemas import RateLimitHit, RequestRecord
from .state import BotState, EmulatorState
from .user_api import build_user_router

DEFAULT_TOKEN = "123456789:SANDBOX-token-for-tests"


def create_app(world: EmulatorState) -> tuple[FastAPI, BotApi]:
    api = BotApi(world)
    app = FastAPI(
        title="Telegram Bot API emulator",
        docs_url="/_emu/docs",
        redoc_url=None,
        openapi_url="/_emu/openapi.json",
    )
    app.include_router(api.router())
    app.include_router(build_user_router(world))
    return app, api


class TelegramEmulator:
    """A Telegram Bot API emulator on a real HTTP port.

    ``base_url`` is what ``TelegramAPIServer.from_base`` (or TELEGRAM_API_BASE) takes.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        extra_tokens: Sequence[str] = (),
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.state = EmulatorState(config or EmulatorConfig())
        for each in (token, *extra_tokens):
            self.state.add_bot(each)
        self.app, self._api = create_app(self.state)
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._bound_port: int | None = None

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so,
        # and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(128)
        sock.setblocking(False)
        self._bound_port = int(sock.getsockname()[1])
        self.state.closing.clear()
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,  # request paths carry bot tokens
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="tg-emulator")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # surfaces the startup error
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.state.closing.set()  # long polls and webhook loops return at once
        await self._api.webhooks.stop_all()
        self._server.should_exit = True
        await self._task
        self._server = None
        self._task = None

    async def wait_stopped(self) -> None:
        """Block until the server exits (standalone: on SIGINT/SIGTERM, handled by uvicorn)."""
        if self._task is None:
            raise RuntimeError("the emulator is not started")
        await self._task
        self.state.closing.set()
        await self._api.webhooks.stop_all()

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the emulator is not started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # --- in-process access -----------------------------------------------------------------
    def bot(self, token: str | None = None) -> BotState:
        return self.state.bots[token or self.token]

    def add_bot(self, token: str) -> BotState:
        return self.state.add_bot(token)

    @property
    def faults(self) -> Faults:
        return self.bot().faults

    @property
    def rate_limit_hits(self) -> list[RateLimitHit]:
        return self.bot().rate_limit_hits

    @property
    def requests(self) -> list[RequestRecord]:
        return self.bot().requests

    def user(self, user_id: int = 1001, **profile: Any) -> TelegramUserClient:
        return TelegramUserClient(self.base_url, self.token, user_id=user_id, **profile)

    def control(self, token: str | None = None) -> EmulatorControl:
        return EmulatorControl(self.base_url, token or self.token)
