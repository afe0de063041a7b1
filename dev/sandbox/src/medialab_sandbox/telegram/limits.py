"""Flood control: token buckets per chat, per group and per bot, like Telegram's limits."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .config import RateLimitConfig


@dataclass
class _Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def seconds_until(self, cost: float) -> float:
        return max(0.0, (cost - self.tokens) / self.rate)


Scope = Literal["chat", "group", "global"]


@dataclass(frozen=True)
class Rejection:
    scope: Scope
    retry_after: int


class RateLimiter:
    """Charges message-producing calls; a call either passes every bucket or touches none."""

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, int], _Bucket] = {}
        self.config = config

    @property
    def config(self) -> RateLimitConfig:
        return self._config

    @config.setter
    def config(self, config: RateLimitConfig) -> None:
        self._config = config
        self._buckets.clear()

    def charge(self, chat_id: int, *, global_cost: int = 1) -> Rejection | None:
        if not self._config.enabled:
            return None
        now = self._clock()
        wanted: list[tuple[Scope, _Bucket, float]] = [("chat", self._bucket("chat", chat_id, now), 1.0)]
        if chat_id < 0:
            wanted.append(("group", self._bucket("group", chat_id, now), 1.0))
        wanted.append(("global", self._bucket("global", 0, now), float(global_cost)))
        waits = [(bucket.seconds_until(cost), scope) for scope, bucket, cost in wanted]
        longest, scope = max(waits)
        if longest > 0:
            return Rejection(scope, max(1, math.ceil(longest)))
        for _, bucket, cost in wanted:
            bucket.tokens -= cost
        return None

    def _bucket(self, scope: str, key: int, now: float) -> _Bucket:
        bucket = self._buckets.get((scope, key))
        if bucket is None:
            rate, burst = self._shape(scope)
            bucket = _Bucket(rate, burst, burst, now)
            self._buckets[(scope, key)] = bucket
        bucket.refill(now)
        return bucket

    def _shape(self, scope: str) -> tuple[float, float]:
        config = self._config
        if scope == "chat":
            return config.per_chat_per_second, float(config.per_chat_burst)
        if scope == "group":
            return config.group_per_minute / 60.0, float(config.group_burst)
        return config.global_per_second, float(config.global_burst)
