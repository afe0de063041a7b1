"""Telegram Bot API emulator (bot side for aiogram, user side for tests) and a chat client.

Names are imported lazily so that light users (the chat client) do not pay for the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import AlbumItem, EmulatorControl, EmulatorError, TelegramUserClient, shared_http
    from .config import EmulatorConfig, FileLimits, RateLimitConfig, WebhookConfig
    from .schemas import (
        CallbackAnswer,
        InlineButton,
        PaymentOutcome,
        RateLimitHit,
        RequestRecord,
        Transcript,
        TranscriptMessage,
        WebhookAttempt,
    )
    from .server import DEFAULT_TOKEN, TelegramEmulator, create_app

_EXPORTS = {
    "AlbumItem": ".client",
    "EmulatorControl": ".client",
    "EmulatorError": ".client",
    "TelegramUserClient": ".client",
    "shared_http": ".client",
    "EmulatorConfig": ".config",
    "FileLimits": ".config",
    "RateLimitConfig": ".config",
    "WebhookConfig": ".config",
    "CallbackAnswer": ".schemas",
    "InlineButton": ".schemas",
    "PaymentOutcome": ".schemas",
    "RateLimitHit": ".schemas",
    "RequestRecord": ".schemas",
    "Transcript": ".schemas",
    "TranscriptMessage": ".schemas",
    "WebhookAttempt": ".schemas",
    "DEFAULT_TOKEN": ".server",
    "TelegramEmulator": ".server",
    "create_app": ".server",
}

__all__ = [
    "DEFAULT_TOKEN",
    "AlbumItem",
    "CallbackAnswer",
    "EmulatorConfig",
    "EmulatorControl",
    "EmulatorError",
    "FileLimits",
    "InlineButton",
    "PaymentOutcome",
    "RateLimitConfig",
    "RateLimitHit",
    "RequestRecord",
    "TelegramEmulator",
    "TelegramUserClient",
    "Transcript",
    "TranscriptMessage",
    "WebhookAttempt",
    "WebhookConfig",
    "create_app",
    "shared_http",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
