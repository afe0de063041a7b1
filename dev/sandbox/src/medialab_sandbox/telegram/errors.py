"""Telegram Bot API errors and the response envelopes they turn into."""

from __future__ import annotations

from typing import Any


class TelegramError(Exception):
    """An error the emulator answers with, exactly as Telegram would describe it."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> TelegramError:
    return TelegramError(403, f"Forbidden: {reason}")


def too_many_requests(retry_after: int) -> TelegramError:
    return TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def unauthorized() -> TelegramError:
    return TelegramError(401, "Unauthorized")


def not_found() -> TelegramError:
    return TelegramError(404, "Not Found")


def entity_too_large() -> TelegramError:
    return TelegramError(413, "Request Entity Too Large")


def conflict(reason: str) -> TelegramError:
    return TelegramError(409, f"Conflict: {reason}")


# Descriptions Telegram uses for server-side failures, by status code.
SERVER_ERROR_DESCRIPTIONS: dict[int, str] = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

MESSAGE_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def ok_envelope(result: Any, description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return body
