"""The one way out to Telegram: aiogram's aiohttp session, with a request middleware that waits for a
rate-limit slot, honours ``retry_after`` for the scope that got it, and counts errors."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    GetUpdates,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

from gateway_bot.metrics import TELEGRAM_429, TELEGRAM_ERRORS
from gateway_bot.telegram.limiter import Scope, TelegramLimiter

log = logging.getLogger(__name__)

# Methods that produce, change or remove a message: Telegram's flood control counts these per chat.
_EDITS = (EditMessageText, EditMessageCaption, EditMessageReplyMarkup)
NOT_MODIFIED = "message is not modified"

_ERROR_CODES: tuple[tuple[type[TelegramAPIError], str], ...] = (
    (TelegramRetryAfter, "429"),
    (TelegramBadRequest, "400"),
    (TelegramUnauthorizedError, "401"),
    (TelegramForbiddenError, "403"),
    (TelegramNotFound, "404"),
    (TelegramConflictError, "409"),
    (TelegramEntityTooLarge, "413"),
    (TelegramServerError, "5xx"),
)


def error_code(error: TelegramAPIError) -> str:
    for kind, code in _ERROR_CODES:
        if isinstance(error, kind):
            return code
    return "other"


def chat_of(method: TelegramMethod[Any]) -> int | None:
    """The chat a method writes to (None for calls that write to no chat)."""
    if not method.__api_method__.startswith(("send", "edit", "delete", "copy", "forward")):
        return None
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int) else None


def scope_of_429(chat_id: int | None) -> tuple[Scope, int | None]:
    if chat_id is None:
        return Scope.global_, None
    return (Scope.group if chat_id < 0 else Scope.chat), chat_id


class RateLimitMiddleware(BaseRequestMiddleware):
    def __init__(self, limiter: TelegramLimiter, max_retries: int) -> None:
        self._limiter = limiter
        self._max_retries = max_retries

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        long_poll = isinstance(method, GetUpdates)  # not a message; kept unnarrowed for make_request's type
        if long_poll:
            return await make_request(bot, method)
        chat_id = chat_of(method)
        attempt = 0
        while True:
            await self._limiter.acquire(chat_id)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                scope, scope_chat = scope_of_429(chat_id)
                TELEGRAM_429.labels(scope.value).inc()
                TELEGRAM_ERRORS.labels(method.__api_method__, "429").inc()
                await self._limiter.penalize(scope, scope_chat, error.retry_after)
                attempt += 1
                if attempt > self._max_retries:
                    raise
                log.warning(
                    "429 on %s (%s), retry after %ss", method.__api_method__, scope, error.retry_after
                )
            except TelegramBadRequest as error:
                if isinstance(method, _EDITS) and NOT_MODIFIED in error.message:
                    return True  # the message already shows this: the edit is done
                TELEGRAM_ERRORS.labels(method.__api_method__, "400").inc()
                raise
            except TelegramAPIError as error:
                TELEGRAM_ERRORS.labels(method.__api_method__, error_code(error)).inc()
                raise


class TelegramSession(AiohttpSession):
    """aiogram's aiohttp session, holding the ``Response[T]`` model of every kind of answer it parsed.

    aiogram validates each answer with ``Response[method.__returning__]``. pydantic keeps such a
    parametrized model only weakly (strongly only when it is made at a module's top level), so after
    each full garbage collection the next answer rebuilt the model and its validator, on the event
    loop: ~65 ms of CPU for ``Response[Message]`` on the 2-core bench machine, a stall every user waited
    through (py-spy under ``bench load``: 14 % of the gateway's busy time). Held, each is built once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._responses: dict[Any, type[Response[Any]]] = {}

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._responses:
            self._responses[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)
