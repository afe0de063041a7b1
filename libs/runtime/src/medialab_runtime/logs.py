"""Structured logs: one JSON object per line, carrying the current job id when there is one.

Every secret setting is redacted from every line, tracebacks included: a token that ends up in an
exception (a URL with the bot token, a DSN with a password) is replaced before the line is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "***"
# Shorter pieces would redact ordinary words; every real credential is far longer.
_MIN_SECRET_LEN = 6

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


@contextmanager
def job_context(job_id: str | None, trace_id: str | None = None) -> Iterator[None]:
    job_token = _job_id.set(job_id)
    trace_token = _trace_id.set(trace_id)
    try:
        yield
    finally:
        _job_id.reset(job_token)
        _trace_id.reset(trace_token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get()
        record.trace_id = _trace_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("job_id", "trace_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _secret_pieces(value: str) -> Iterator[str]:
    """The value and what may appear of it alone: list items ("id:secret@4, …" key lists), the secret
    half of "id:secret" keys and bot tokens, a URL's password."""
    yield value
    for item in re.split(r"[\s,;\"'\[\]]+", value):
        item = re.sub(r"@\d+$", "", item)
        yield item
        if "://" in item:
            password = urlsplit(item).password
            if password:
                yield password
        elif ":" in item:
            yield item.split(":", 1)[1]


def secret_values(settings: BaseModel) -> list[str]:
    """Every SecretStr value of ``settings`` (and of its nested models), as pieces to redact."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.update(p for p in _secret_pieces(value.get_secret_value()) if len(p) >= _MIN_SECRET_LEN)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(settings)
    # Longest first: a token's half must not be replaced before the whole token.
    return sorted(found, key=len, reverse=True)


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` and then blanks every secret in the finished line, exception text and
    stack included (and their JSON-escaped forms)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        variants = {v for s in secrets for v in (s, json.dumps(s, ensure_ascii=False)[1:-1])}
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)))
            if variants
            else None
        )

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        return self._pattern.sub(REDACTED, line) if self._pattern else line


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("medialab.crash").critical("uncaught %s", kind.__name__, exc_info=(kind, error, tb))


def setup_logging(service: str, level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        inner: logging.Formatter = JsonFormatter(service)
    else:
        inner = logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s [%(job_id)s] %(message)s")
    handler.setFormatter(RedactingFormatter(inner, secrets))
    # A crash's traceback goes through the same redaction instead of Python's raw print to stderr.
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(
        args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("medialab.lifecycle").setLevel(logging.INFO)
    # httpx logs full request URLs at INFO; some carry tokens (Telegram puts the bot token in the path).
    for noisy in ("httpx", "httpcore", "aiohttp.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
