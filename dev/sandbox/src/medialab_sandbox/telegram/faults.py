"""Fault knobs: make the next N calls of a method fail, or slow calls down."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SERVER_ERROR_DESCRIPTIONS, TelegramError, too_many_requests
from .schemas import FaultSpec

ANY_METHOD = "*"


@dataclass
class _Rule:
    spec: FaultSpec
    remaining: int


class Faults:
    """Per-bot fault injection. Method names match case-insensitively, like Telegram's."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._latency: dict[str, float] = {}

    def inject(
        self,
        method: str,
        count: int = 1,
        status: int = 500,
        *,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with ``status`` instead of running them."""
        self.add(
            FaultSpec(
                method=method,
                count=count,
                status=status,
                retry_after=retry_after,
                description=description,
            )
        )

    def add(self, spec: FaultSpec) -> None:
        self._rules.append(_Rule(spec, spec.count))

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay every call (or every call of ``method``) by ``seconds``; 0 removes it."""
        key = (method or ANY_METHOD).lower()
        if seconds > 0:
            self._latency[key] = seconds
        else:
            self._latency.pop(key, None)

    def clear(self) -> None:
        self._rules.clear()
        self._latency.clear()

    def latency(self, method: str) -> float:
        return self._latency.get(method.lower(), self._latency.get(ANY_METHOD, 0.0))

    def take(self, method: str) -> TelegramError | None:
        """The injected error for this call, if one is due (and count it as used)."""
        for rule in self._rules:
            if rule.spec.method.lower() in (method.lower(), ANY_METHOD):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return _error(rule.spec)
        return None


def _error(spec: FaultSpec) -> TelegramError:
    if spec.status == 429:
        error = too_many_requests(spec.retry_after or 1)
    else:
        default = SERVER_ERROR_DESCRIPTIONS.get(spec.status, f"Error {spec.status}")
        error = TelegramError(spec.status, default)
    if spec.description is not None:
        error.description = spec.description
    return error
