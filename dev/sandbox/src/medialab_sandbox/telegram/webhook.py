"""Webhook delivery: POST each update in order, retry with backoff until it gets a 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .config import WebhookConfig
from .objects import Update
from .params import Params, parse_form_body
from .schemas import WebhookAttempt
from .state import BotState, unix_now

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Runs a Bot API method that a webhook answered with in its response body.
Execute = Callable[[BotState, str, Params], Awaitable[Any]]

log = logging.getLogger(__name__)


class WebhookDelivery:
    def __init__(
        self, bot: BotState, config: WebhookConfig, closing: asyncio.Event, execute: Execute
    ) -> None:
        self._bot = bot
        self._config = config
        self._closing = closing
        self._execute = execute
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"webhook-bot-{self._bot.id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        queue = self._bot.updates
        delay = self._config.retry_initial_delay
        async with httpx.AsyncClient(timeout=self._config.request_timeout) as http:
            while not self._closing.is_set():
                seen = queue.signal.version
                update = queue.first()
                if update is None:
                    await queue.signal.wait_past(seen, timeout=3600, abort=self._closing)
                    continue
                if await self._deliver(http, update):
                    queue.confirm(update.update_id + 1)
                    delay = self._config.retry_initial_delay
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._config.retry_max_delay)

    async def _deliver(self, http: httpx.AsyncClient, update: Update) -> bool:
        settings = self._bot.webhook
        if settings is None:
            return False
        headers = {"Content-Type": "application/json"}
        if settings.secret_token:
            headers[SECRET_HEADER] = settings.secret_token
        body = json.dumps(update.to_api(), ensure_ascii=False).encode()
        try:
            response = await http.post(settings.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._record(update, None, _describe(exc))
            return False
        if not 200 <= response.status_code < 300:
            error = f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
            self._record(update, response.status_code, error)
            return False
        self._record(update, response.status_code, None)
        await self._apply_reply(response)
        return True

    def _record(self, update: Update, status: int | None, error: str | None) -> None:
        self._bot.webhook_attempts.append(
            WebhookAttempt(
                at=time.time(),
                update_id=update.update_id,
                ok=error is None,
                status_code=status,
                error=error,
            )
        )
        settings = self._bot.webhook
        if error is not None and settings is not None:
            settings.last_error_date = unix_now()
            settings.last_error_message = error

    async def _apply_reply(self, response: httpx.Response) -> None:
        """Telegram runs a method returned in the webhook response; its result is discarded."""
        content_type = response.headers.get("content-type", "")
        params: Params | None = None
        if content_type.startswith("application/json"):
            with contextlib.suppress(ValueError):
                data = response.json()
                if isinstance(data, dict):
                    params = Params(values=data)
        elif content_type.startswith("multipart/form-data"):
            params = await parse_form_body(content_type, response.content)
        if params is None:
            return
        method = params.values.pop("method", None)
        if isinstance(method, str) and method:
            try:
                await self._execute(self._bot, method, params)
            finally:
                await params.close()


class WebhookManager:
    """One delivery loop per bot that has a webhook set."""

    def __init__(self, config: WebhookConfig, closing: asyncio.Event, execute: Execute) -> None:
        self._config = config
        self._closing = closing
        self._execute = execute
        self._deliveries: dict[str, WebhookDelivery] = {}

    async def restart(self, bot: BotState) -> None:
        await self.stop(bot)
        if bot.webhook is not None:
            delivery = WebhookDelivery(bot, self._config, self._closing, self._execute)
            self._deliveries[bot.token] = delivery
            delivery.start()

    async def stop(self, bot: BotState) -> None:
        delivery = self._deliveries.pop(bot.token, None)
        if delivery is not None:
            await delivery.stop()

    async def stop_all(self) -> None:
        for delivery in list(self._deliveries.values()):
            await delivery.stop()
        self._deliveries.clear()


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "Connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "Read timeout expired"
    return f"Connection error: {type(exc).__name__}"
