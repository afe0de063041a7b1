"""How updates arrive: long polling by default, or a webhook (aiohttp) when WEBHOOK_URL is set.

The webhook checks Telegram's secret token (401 otherwise), answers at once and handles the update in
the background.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from medialab_runtime.service import ServiceContext

from gateway_bot.settings import GatewaySettings

log = logging.getLogger(__name__)


class Transport:
    def __init__(self, ctx: ServiceContext, bot: Bot, dp: Dispatcher, settings: GatewaySettings) -> None:
        self._ctx = ctx
        self._bot = bot
        self._dp = dp
        self._settings = settings
        self._runner: web.AppRunner | None = None
        self.started = False

    async def start(self) -> None:
        if self._settings.webhook_url:
            await self._start_webhook(self._settings.webhook_url)
        else:
            await self._start_polling()
        self.started = True

    async def _start_polling(self) -> None:
        await self._bot.delete_webhook(drop_pending_updates=False)
        polling = self._dp.start_polling(
            self._bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=self._dp.resolve_used_update_types(),
        )
        self._ctx.spawn(polling, name="telegram-polling")
        log.info("long polling started")

    async def _start_webhook(self, url: str) -> None:
        assert self._settings.webhook_secret is not None
        secret = self._settings.webhook_secret.get_secret_value()
        app = web.Application()
        SimpleRequestHandler(self._dp, self._bot, secret_token=secret, handle_in_background=True).register(
            app, path=urlsplit(url).path or "/"
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.webhook_host, self._settings.webhook_port)
        await site.start()
        await self._bot.set_webhook(
            url, secret_token=secret, allowed_updates=self._dp.resolve_used_update_types()
        )
        log.info("webhook serving on port %d", self._settings.webhook_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        elif self.started:
            try:
                await asyncio.wait_for(self._dp.stop_polling(), timeout=5)
            except (RuntimeError, TimeoutError):
                log.info("polling already stopped")
