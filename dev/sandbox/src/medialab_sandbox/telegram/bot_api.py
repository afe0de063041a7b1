"""The bot side: /bot<token>/<method> and /file/bot<token>/<path>, with faults and a call log."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .context import Described, MethodContext, MethodTable
from .errors import (
    SERVER_ERROR_DESCRIPTIONS,
    TelegramError,
    not_found,
    ok_envelope,
    unauthorized,
)
from .methods_bot import METHODS as BOT_METHODS
from .methods_messages import METHODS as MESSAGE_METHODS
from .methods_payments import METHODS as PAYMENT_METHODS
from .params import Params, read_params
from .schemas import RateLimitHit, RequestRecord
from .state import BotState, EmulatorState
from .webhook import WebhookManager

log = logging.getLogger(__name__)

METHODS = MethodTable({**BOT_METHODS, **MESSAGE_METHODS, **PAYMENT_METHODS})


class BotApi:
    def __init__(self, world: EmulatorState) -> None:
        self.world = world
        self.webhooks = WebhookManager(world.config.webhook, world.closing, self.execute)

    async def call(self, bot: BotState, method: str, params: Params) -> tuple[int, dict[str, Any]]:
        """Run one method call; return the HTTP status and the Telegram envelope."""
        try:
            status, body = 200, await self._run(bot, method, params)
        except TelegramError as error:
            status, body = error.error_code, error.envelope()
        except Exception:
            # An emulator bug must look like a Telegram outage, not kill the request.
            log.exception("bot %s: %s failed inside the emulator", bot.id, method)
            status, body = 500, TelegramError(500, SERVER_ERROR_DESCRIPTIONS[500]).envelope()
        bot.requests.append(
            RequestRecord(
                at=time.time(),
                method=method,
                chat_id=_chat_id_of(params),
                status_code=status,
                description=body.get("description") if status != 200 else None,
                uploaded_files=sorted(params.files),
            )
        )
        log.debug("bot %s %s -> %s", bot.id, method, status)
        return status, body

    async def execute(self, bot: BotState, method: str, params: Params) -> dict[str, Any]:
        """Entry point for calls that do not come over HTTP (webhook replies)."""
        _, body = await self.call(bot, method, params)
        return body

    async def _run(self, bot: BotState, method: str, params: Params) -> dict[str, Any]:
        handler = METHODS.get(method.lower())
        if handler is None:
            raise not_found()
        delay = bot.faults.latency(method)
        if delay:
            await asyncio.sleep(delay)
        injected = bot.faults.take(method)
        if injected is not None:
            if injected.retry_after is not None:
                bot.rate_limit_hits.append(
                    RateLimitHit(
                        at=time.time(),
                        method=method,
                        chat_id=_chat_id_of(params),
                        scope="injected",
                        retry_after=injected.retry_after,
                    )
                )
            raise injected
        context = MethodContext(method, bot, params, self.world, self.webhooks)
        result = await handler(context)
        if isinstance(result, Described):
            return ok_envelope(result.result, result.description)
        return ok_envelope(result)

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.api_route("/bot{token}/{method}", methods=["GET", "POST"])
        async def bot_method(request: Request, token: str, method: str) -> Response:
            bot = self.world.bots.get(token)
            if bot is None:
                return _error_response(unauthorized())
            try:
                params = await read_params(request)
            except TelegramError as error:
                return _error_response(error)
            try:
                status, body = await self.call(bot, method, params)
            finally:
                await params.close()
            return JSONResponse(body, status_code=status)

        @router.get("/file/bot{token}/{file_path:path}")
        async def download(token: str, file_path: str) -> Response:
            bot = self.world.bots.get(token)
            if bot is None:
                return _error_response(unauthorized())
            stored = bot.files_by_path.get(file_path)
            if stored is None:
                return _error_response(not_found())
            return Response(stored.data, media_type="application/octet-stream")

        return router


def _error_response(error: TelegramError) -> JSONResponse:
    return JSONResponse(error.envelope(), status_code=error.error_code)


def _chat_id_of(params: Params) -> int | None:
    value = params.raw("chat_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
