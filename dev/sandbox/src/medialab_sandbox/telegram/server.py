"""The emulator as an app and as a running server (in-process or standalone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from ..http_server import HttpServer
from ..lifecycle import Lifecycle
from .bot_api import BotApi
from .client import EmulatorControl, TelegramUserClient
from .config import EmulatorConfig
from .faults import Faults
from .schemas import RateLimitHit, RequestRecord
from .state import BotState, EmulatorState
from .user_api import build_user_router
from .webchat import install_webchat

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
    install_webchat(app, world)
    return app, api


class TelegramEmulator(Lifecycle):
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
        self._server = HttpServer(
            host,
            port,
            capture_signals=True,  # standalone, SIGINT/SIGTERM end ``wait_stopped``
            task_name="tg-emulator",
            log_level="warning",
            access_log=False,  # request paths carry bot tokens
            timeout_graceful_shutdown=2,
        )

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server.running:
            raise RuntimeError("the emulator is already running")
        self.state.closing.clear()
        await self._server.start(self.app)

    async def stop(self) -> None:
        if not self._server.running:
            return
        self.state.closing.set()  # long polls and webhook loops return at once
        await self._api.webhooks.stop_all()
        await self._server.stop()

    async def wait_stopped(self) -> None:
        """Block until the server exits (standalone: on SIGINT/SIGTERM, handled by uvicorn)."""
        if not self._server.running:
            raise RuntimeError("the emulator is not started")
        await self._server.wait()
        self.state.closing.set()
        await self._api.webhooks.stop_all()

    # --- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server.port is None:
            raise RuntimeError("the emulator is not started")
        return self._server.port

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
