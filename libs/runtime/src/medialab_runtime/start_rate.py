"""Task starts per time window for one provider account, counted over every replica of every service.

A provider that limits how many tasks an account may *start* per minute (WaveSpeed: Bronze 2/min)
refuses the rest with 429. This limiter keeps us under that line instead of learning it from 429s.

State: one entry of the ``slots`` KV bucket per account, ``starts.<provider>.<fingerprint>``, whose
value is the log of the starts of the last window (wall-clock seconds, oldest first). Taking a start
reads the log, drops what has aged out, and writes it back with one more start using
``update(last=<revision read>)`` (``create`` when there is none): of two replicas racing for the
last free start one write fails and that replica reads again, so a start is never taken twice.
A sliding log, not a token bucket: a bucket refilling at limit/window allows up to 2×limit−1
starts inside one window, which a provider counting a sliding window would refuse.

The bucket's TTL (the slot lease, often shorter than the window) would drop a log nobody writes
to while its starts still count, so every process that saw a start younger than the window
rewrites the log every TTL/3 until the start ages out. If every replica dies, the log can expire
early: the provider's own 429 is the backstop, and a refused submit never created a task.

The ``starts.`` prefix keeps these keys out of the slot pool's ``<provider>.>`` watch and counts.
Times are wall clock, so replicas must agree on the time (NTP); the window setting should carry a
margin for the time between taking a start and the request reaching the provider.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from medialab_contracts import subjects
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from medialab_runtime.tasks import cancel_and_wait

log = logging.getLogger(__name__)

KEY_PREFIX = "starts"
# Re-read at least this often while waiting: a changed window setting or a clock step shows up.
_MAX_PAUSE_S = 5.0


# A waiter's place among this process's waiters for a start (0 = next) and the seconds until its start.
OnStartWait = Callable[[int, float], Awaitable[None]]


class StartTimeout(TimeoutError):
    """No task start became free within the caller's time."""


@dataclass(frozen=True)
class StartRate:
    """At most ``limit`` task starts in any ``window_s`` seconds."""

    limit: int
    window_s: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_s <= 0:
            raise ValueError("a start rate needs a limit >= 1 and a window > 0")


@dataclass(frozen=True)
class _Log:
    starts: tuple[float, ...]
    revision: int | None  # None: no entry (never written, deleted or expired)


def start_key(provider: str, fingerprint: str) -> str:
    return f"{KEY_PREFIX}.{provider}.{fingerprint}"


class StartLimiter:
    """The start log of one account (``fingerprint`` names its key, never the secret)."""

    def __init__(
        self, kv: KeyValue, provider: str, fingerprint: str, rate: StartRate, *, refresh_s: float | None
    ) -> None:
        self.rate = rate
        self.key = start_key(provider, fingerprint)
        self._kv = kv
        self._refresh_s = refresh_s
        self._seen: tuple[float, ...] = ()  # the newest log this process read or wrote
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[object] = []  # callers of ``ready`` still waiting, oldest first

    @classmethod
    async def open(
        cls, js: JetStreamContext, provider: str, fingerprint: str, rate: StartRate
    ) -> StartLimiter:
        kv = await js.key_value(subjects.SLOTS_BUCKET)
        ttl = (await kv.status()).ttl
        limiter = cls(kv, provider, fingerprint, rate, refresh_s=ttl / 3 if ttl else None)
        limiter.start()
        return limiter

    def start(self) -> None:
        if self._refresh_s is not None:
            self._task = asyncio.create_task(self._keep_alive(), name=f"starts-{self.key}")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def ready(self, timeout: float, on_wait: OnStartWait | None = None) -> None:
        """Wait until a start is free, without taking it: a caller can then take a slot and ``take``
        the start right before the request, so it neither sits on a slot through a full window nor
        records a start long before it happens. Raises ``StartTimeout``.

        ``on_wait`` hears the caller's place among this process's waiters and an estimate of the
        seconds until its start whenever the place changes (the waiters before it take the next
        starts, ``limit`` per window)."""
        deadline = time.monotonic() + timeout
        ticket = object()
        self._waiters.append(ticket)
        told: int | None = None
        try:
            while True:
                current = await self._read()
                wait = self._wait(current.starts, time.time())
                if wait <= 0:
                    return
                ahead = self._waiters.index(ticket)
                if on_wait is not None and ahead != told:
                    told = ahead
                    await on_wait(ahead, wait + (ahead // self.rate.limit) * self.rate.window_s)
                await self._pause(wait, deadline, timeout)
        finally:
            self._waiters.remove(ticket)

    async def take(self, timeout: float) -> float:
        """Record one start now (wall-clock time, returned); waits while the window is full.
        Raises ``StartTimeout`` when no start frees up within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            current = await self._read()
            now = time.time()
            wait = self._wait(current.starts, now)
            if wait > 0:
                await self._pause(wait, deadline, timeout)
                continue
            starts = (*self._recent(current.starts, now), now)
            if await self._write(starts, current.revision):
                return now
            # Another replica wrote in between: read its log and count again, at once.

    # ----- internals -------------------------------------------------------------------------------

    def _recent(self, starts: tuple[float, ...], now: float) -> tuple[float, ...]:
        return tuple(t for t in starts if t > now - self.rate.window_s)

    def _wait(self, starts: tuple[float, ...], now: float) -> float:
        """Seconds until one more start fits (0: it fits now)."""
        recent = self._recent(starts, now)
        if len(recent) < self.rate.limit:
            return 0.0
        # The start that has to age out for one more to fit.
        return recent[len(recent) - self.rate.limit] + self.rate.window_s - now

    async def _pause(self, wait: float, deadline: float, timeout: float) -> None:
        remaining = deadline - time.monotonic()
        if wait > remaining:
            # Starts only free up as time passes, so this one cannot come in time: say so now.
            raise StartTimeout(
                f"no start free within {timeout:.1f}s "
                f"({self.rate.limit} per {self.rate.window_s:g}s, next in {wait:.1f}s)"
            )
        # A little jitter so waiting replicas do not all read and write in the same instant.
        await asyncio.sleep(min(wait + random.uniform(0.0, 0.05), remaining, _MAX_PAUSE_S))

    async def _read(self) -> _Log:
        try:
            entry = await self._kv.get(self.key)
        except KeyNotFoundError:
            return _Log((), None)
        starts = _parse(entry.value)
        self._remember(starts)
        return _Log(starts, entry.revision)

    async def _write(self, starts: tuple[float, ...], revision: int | None) -> bool:
        value = json.dumps({"starts": list(starts)}).encode()
        try:
            if revision is None:
                await self._kv.create(self.key, value)
            else:
                await self._kv.update(self.key, value, last=revision)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            return False
        self._remember(starts)
        return True

    def _remember(self, starts: tuple[float, ...]) -> None:
        if starts and (not self._seen or starts[-1] >= self._seen[-1]):
            self._seen = starts

    async def _keep_alive(self) -> None:
        """Rewrite the log before the bucket's TTL drops it while one of its starts still counts."""
        assert self._refresh_s is not None
        while True:
            await asyncio.sleep(self._refresh_s)
            if not self._recent(self._seen, time.time()):
                continue
            try:
                await self._refresh()
            except Exception as error:  # NATS away for a moment: the next round tries again
                log.warning("start log %s not refreshed (%s)", self.key, type(error).__name__)

    async def _refresh(self) -> None:
        current = await self._read()
        now = time.time()
        if current.revision is None:
            # Expired under us (every holder was too slow): put back what we know still counts.
            recent = self._recent(self._seen, now)
            if recent and await self._write(recent, None):
                log.warning("start log %s had expired and was restored", self.key)
            return
        # Same starts, new write: the TTL starts over. A conflict means somebody just wrote it.
        await self._write(self._recent(current.starts, now), current.revision)


def _parse(raw: bytes | None) -> tuple[float, ...]:
    """The log's start times; a value this code did not write counts as no starts."""
    try:
        data = json.loads(raw or b"{}")
        starts = data["starts"]
        return tuple(sorted(float(t) for t in starts))
    except (ValueError, TypeError, KeyError):
        log.warning("start log value unreadable; treated as empty")
        return ()
