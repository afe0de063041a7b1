"""Provider slots: at most N in-flight calls per API key, counted over every replica of every service.

Each key of a provider owns N slots, the keys ``<provider>.<fingerprint>.<i>`` (i < N) of the ``slots``
KV bucket. Holding a slot means having written that key:
- acquire = ``create`` (fails while the key holds a value), or ``update(last=<tombstone revision>)``
  when a watch told us the slot was just released (one round trip instead of three);
- the holder rewrites its keys every lease/3 with ``update(last=rev)``; the bucket's TTL is the lease,
  so the key of a holder that died expires by itself;
- release = a delete marker written with ``last=rev``, which can never remove a slot somebody else
  took over; its revision, from the publish ack, lets a waiter here take the slot in one more round
  trip without waiting for the watch.
Waiters sleep on a KV watch of the provider's slots (woken by every delete) plus a jittered poll that
also retries slots whose holder has been silent for a whole lease (expiry leaves no event).

Secrets never reach the bucket, logs or metrics: a key is named by its fingerprint, a short hash.
See docs/provider-slots.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import cache, partial

from medialab_contracts import subjects
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue
from prometheus_client import Counter, Gauge, Histogram
from pydantic import SecretStr

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
ANY_KEY = "any"
_FINGERPRINT_CHARS = 12
_LIMIT_SUFFIX = re.compile(r"^(?P<secret>.+)@(?P<limit>\d+)$")


# ----- keys ----------------------------------------------------------------------------------------


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a key: safe in KV keys, logs and metric labels."""
    return hashlib.sha256(secret.encode()).hexdigest()[:_FINGERPRINT_CHARS]


@dataclass(frozen=True)
class ProviderKey:
    secret: SecretStr
    limit: int
    fingerprint: str

    @classmethod
    def of(cls, secret: str, limit: int) -> ProviderKey:
        if limit < 1:
            raise KeySpecError("a key's limit must be at least 1")
        return cls(SecretStr(secret), limit, fingerprint(secret))


class KeySpecError(ValueError):
    """A malformed key list; the message names the entry by position, never by its value."""


def parse_keys(raw: str, default_limit: int) -> list[ProviderKey]:
    """Parse a pool of API keys, each with its own limit.

    Accepted: a JSON list of strings or ``{"key": ..., "limit": ...}`` objects, or a comma list;
    a string entry may end in ``@<limit>`` (``id:secret@12``).
    """
    text = raw.strip()
    if not text:
        return []
    entries: list[object]
    if text.startswith("["):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError:
            raise KeySpecError("the key list looks like JSON but does not parse") from None
    else:
        entries = [part for part in text.split(",") if part.strip()]
    keys: list[ProviderKey] = []
    for position, entry in enumerate(entries, start=1):
        keys.append(_parse_entry(entry, position, default_limit))
    seen: set[str] = set()
    for position, key in enumerate(keys, start=1):
        if key.fingerprint in seen:
            raise KeySpecError(f"key entry {position} repeats an earlier key")
        seen.add(key.fingerprint)
    return keys


def _parse_entry(entry: object, position: int, default_limit: int) -> ProviderKey:
    if isinstance(entry, dict):
        secret, limit = entry.get("key"), entry.get("limit", default_limit)
        if not isinstance(secret, str) or not secret.strip():
            raise KeySpecError(f"key entry {position} has no 'key' string")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise KeySpecError(f"key entry {position} has a bad 'limit'")
        return ProviderKey.of(secret.strip(), limit)
    if not isinstance(entry, str) or not entry.strip():
        raise KeySpecError(f"key entry {position} is not a string")
    text = entry.strip()
    match = _LIMIT_SUFFIX.match(text)
    if match is None:
        return ProviderKey.of(text, default_limit)
    limit = int(match["limit"])
    if limit < 1:
        raise KeySpecError(f"key entry {position} has a bad limit")
    return ProviderKey.of(match["secret"], limit)


# ----- metrics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotMetrics:
    in_use: Gauge
    limit: Gauge
    waiting: Gauge
    wait_seconds: Histogram
    leases_lost: Counter
    benched: Gauge


@cache
def slot_metrics(provider: str) -> SlotMetrics:
    """Metrics named after the provider (``medialab_fal_slots_in_use``); one set per process."""
    prefix = f"medialab_{provider}"
    return SlotMetrics(
        in_use=Gauge(f"{prefix}_slots_in_use", "Provider slots held by this process", ["key"]),
        limit=Gauge(f"{prefix}_slots_limit", "Concurrency limit of a key, shared by every replica", ["key"]),
        waiting=Gauge(
            f"{prefix}_slots_waiting",
            "Callers in this process waiting for a slot (key 'any' = any key of the pool)",
            ["key"],
        ),
        wait_seconds=Histogram(
            f"{prefix}_slot_wait_seconds",
            "Time from asking for a provider slot to holding one",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        ),
        leases_lost=Counter(
            f"{prefix}_slot_leases_lost_total",
            "Leases that expired under a live holder (it could not refresh in time)",
            ["key"],
        ),
        benched=Gauge(
            f"{prefix}_key_benched",
            "1 while this process keeps a key out of rotation because the provider refused it",
            ["key"],
        ),
    )


# ----- the pool ------------------------------------------------------------------------------------


class SlotTimeout(TimeoutError):
    """No slot became free within the caller's time."""


@dataclass
class Lease:
    key: ProviderKey
    slot: str
    revision: int
    acquired_at: float = field(default_factory=time.monotonic)
    lost: bool = False
    # Serialises refresh and release: a delete with a revision a refresh is replacing would fail.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


@dataclass
class _SlotSeen:
    """What the watch last told about one slot."""

    occupied: bool
    revision: int
    seen_at: float


def _holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**4):04x}"


class SlotPool:
    """The slots of one provider's keys, shared with every other process through the KV bucket."""

    def __init__(
        self,
        js: JetStreamContext,
        kv: KeyValue,
        provider: str,
        keys: Sequence[ProviderKey],
        *,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
    ) -> None:
        if not keys:
            raise ValueError(f"no API keys for {provider}")
        self.provider = provider
        self.keys: tuple[ProviderKey, ...] = tuple(keys)
        self.lease_s = lease_s
        self._by_fingerprint = {key.fingerprint: key for key in self.keys}
        self._js = js
        self._kv = kv
        self._subject_prefix = f"$KV.{subjects.SLOTS_BUCKET}."  # the KV wire format (NATS ADR-8)
        self._poll_s = poll_s
        self._holder = _holder_id()
        self._metrics = slot_metrics(provider)
        self._seen: dict[str, _SlotSeen] = {}
        self._claiming: set[str] = set()
        self._held: dict[str, Lease] = {}
        self._benched_until: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        for key in self.keys:
            self._metrics.in_use.labels(key.fingerprint).set(0)
            self._metrics.limit.labels(key.fingerprint).set(key.limit)
            # Read at scrape time from the bench itself, so no code path has to keep it in step.
            self._metrics.benched.labels(key.fingerprint).set_function(partial(self._is_benched, key))

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        provider: str,
        keys: Sequence[ProviderKey],
        *,
        poll_s: float = 1.0,
    ) -> SlotPool:
        """Open the pool on the ``slots`` bucket; its TTL (set at provisioning) is the lease."""
        kv = await js.key_value(subjects.SLOTS_BUCKET)
        ttl = (await kv.status()).ttl
        pool = cls(js, kv, provider, keys, lease_s=ttl or DEFAULT_LEASE_S, poll_s=poll_s)
        await pool.start()
        return pool

    def slot_names(self, key: ProviderKey) -> list[str]:
        return [f"{self.provider}.{key.fingerprint}.{i}" for i in range(key.limit)]

    def key(self, fingerprint_: str) -> ProviderKey | None:
        return self._by_fingerprint.get(fingerprint_)

    def bench(self, key: ProviderKey, seconds: float) -> bool:
        """Keep ``key`` out of the rotation for ``seconds`` (the provider refused the key itself: locked,
        no balance, revoked); True while another key is still in it. Local to this process: every
        replica finds out for itself, at the cost of one refused call."""
        self._benched_until[key.fingerprint] = time.monotonic() + seconds
        return len(self.usable_keys()) < len(self.keys)

    def _is_benched(self, key: ProviderKey) -> bool:
        return self._benched_until.get(key.fingerprint, 0.0) > time.monotonic()

    def usable_keys(self) -> tuple[ProviderKey, ...]:
        """The keys in rotation; all of them when every one is benched (one may work again)."""
        return tuple(key for key in self.keys if not self._is_benched(key)) or self.keys

    async def start(self) -> None:
        watcher = await self._watch()
        self._tasks = [
            asyncio.create_task(self._follow(watcher), name=f"slots-{self.provider}-watch"),
            asyncio.create_task(self._refresh_forever(), name=f"slots-{self.provider}-refresh"),
        ]

    async def close(self) -> None:
        """Stop watching and refreshing. Leases still held belong to abandoned calls: they expire."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ----- holding ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def hold(self, timeout: float, key: str | None = None) -> AsyncIterator[Lease]:
        """Hold a slot (of key ``key`` if given, else of any key) for the body of the block.

        Released when the block ends; if the block is cancelled (shutdown, a caller's timeout) the
        provider call may still be running, so the lease is left to expire instead.
        """
        lease = await self.acquire(timeout, key)
        try:
            yield lease
        except asyncio.CancelledError:
            self.abandon(lease)
            raise
        except BaseException:
            await self.release(lease)
            raise
        await self.release(lease)

    async def acquire(self, timeout: float, key: str | None = None) -> Lease:
        if key is not None and key not in self._by_fingerprint:
            raise ValueError("unknown key fingerprint")
        started = time.monotonic()
        deadline = started + timeout
        waiting = self._metrics.waiting.labels(key or ANY_KEY)
        thorough = False
        counted = False
        try:
            while True:
                changed = self._changed  # taken before trying, so a release during the try wakes us
                lease = await self._try_acquire(key, thorough)
                if lease is not None:
                    self._metrics.wait_seconds.observe(time.monotonic() - started)
                    return lease
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SlotTimeout(f"no {self.provider} slot free within {timeout:.1f}s")
                if not counted:
                    waiting.inc()
                    counted = True
                pause = min(remaining, self._poll_s * random.uniform(0.5, 1.5))
                try:
                    await asyncio.wait_for(changed.wait(), pause)
                    thorough = False
                except TimeoutError:
                    thorough = True
        finally:
            if counted:
                waiting.dec()

    async def release(self, lease: Lease) -> None:
        if self._held.pop(lease.slot, None) is None:
            return
        self._metrics.in_use.labels(lease.key.fingerprint).dec()
        async with lease.lock:
            if lease.lost:
                return
            try:
                # kv.delete(last=rev) would do, but it drops the marker's revision, which a waiter
                # here needs to take the slot right away (else it waits for the watch to tell it).
                ack = await self._js.publish(
                    self._subject_prefix + lease.slot,
                    b"",
                    headers={KV_OP: KV_DEL, Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(lease.revision)},
                )
            except APIError:
                # Wrong last revision: the lease expired and somebody else holds the slot now.
                log.warning("slot %s was taken over before its release", lease.slot)
                return
            except NatsError as error:
                # NATS away (a server restart): the provider call is over, so this must not fail the
                # job; the slot frees itself when its lease runs out.
                log.warning("slot %s not released (%s); its lease will free it", lease.slot, error)
                return
        self._seen[lease.slot] = _SlotSeen(False, ack.seq, time.monotonic())
        self._notify()

    def abandon(self, lease: Lease) -> None:
        """Stop refreshing without deleting: the slot frees itself after the lease timeout."""
        if self._held.pop(lease.slot, None) is not None:
            self._metrics.in_use.labels(lease.key.fingerprint).dec()

    @property
    def held(self) -> int:
        return len(self._held)

    async def occupied(self) -> dict[str, int]:
        """Slots taken right now per key fingerprint, across the cluster (read from the bucket)."""
        counts = {key.fingerprint: 0 for key in self.keys}
        try:
            names = await self._kv.keys()
        except NoKeysError:
            return counts
        for name in names:
            provider, _, rest = name.partition(".")
            fp = rest.partition(".")[0]
            if provider == self.provider and fp in counts:
                counts[fp] += 1
        return counts

    # ----- internals -------------------------------------------------------------------------------

    def _candidates(self, key: str | None, thorough: bool) -> list[tuple[ProviderKey, str]]:
        """Slots worth a try, keys with the most free slots first so pooled keys fill evenly."""
        now = time.monotonic()
        per_key: list[tuple[int, float, ProviderKey, list[str]]] = []
        rotation = self.keys if key is not None else self.usable_keys()
        for provider_key in rotation:
            if key is not None and provider_key.fingerprint != key:
                continue
            free: list[str] = []
            stale: list[str] = []
            for name in self.slot_names(provider_key):
                if name in self._claiming or name in self._held:
                    continue
                seen = self._seen.get(name)
                if seen is None or not seen.occupied:
                    free.append(name)
                elif thorough and now - seen.seen_at > self.lease_s:
                    stale.append(name)  # its holder went silent: the entry has likely expired
            random.shuffle(free)
            per_key.append((len(free), random.random(), provider_key, free + stale))
        per_key.sort(key=lambda item: (-item[0], item[1]))
        return [(provider_key, name) for _, _, provider_key, names in per_key for name in names]

    async def _try_acquire(self, key: str | None, thorough: bool) -> Lease | None:
        for provider_key, name in self._candidates(key, thorough):
            self._claiming.add(name)
            try:
                revision = await self._take(name)
            finally:
                self._claiming.discard(name)
            if revision is not None:
                lease = Lease(provider_key, name, revision)
                self._held[name] = lease
                self._seen[name] = _SlotSeen(True, revision, time.monotonic())
                self._metrics.in_use.labels(provider_key.fingerprint).inc()
                return lease
        return None

    def _value(self) -> bytes:
        return json.dumps({"holder": self._holder, "at": time.time()}).encode()

    async def _take(self, name: str) -> int | None:
        seen = self._seen.get(name)
        if seen is not None and not seen.occupied and seen.revision:
            with contextlib.suppress(KeyWrongLastSequenceError):
                return await self._kv.update(name, self._value(), last=seen.revision)
        try:
            return await self._kv.create(name, self._value())
        except KeyNotFoundError:
            return None  # the entry expired in the middle of create's tombstone check; next round
        except KeyWrongLastSequenceError:
            # Held by someone else; note it so we stop trying until it is released or goes silent.
            if name not in self._seen or not self._seen[name].occupied:
                self._seen[name] = _SlotSeen(True, 0, time.monotonic())
            return None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _watch(self) -> KeyValue.KeyWatcher:
        return await self._kv.watch(f"{self.provider}.>")

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        """Keep ``_seen`` current; the poll in ``acquire`` covers any gap while re-watching."""
        while True:
            try:
                async for entry in watcher:
                    if entry is None:
                        continue  # end of the initial snapshot
                    freed = entry.operation in (KV_DEL, KV_PURGE)
                    self._seen[entry.key] = _SlotSeen(not freed, entry.revision or 0, time.monotonic())
                    if freed:
                        self._notify()
                return
            except Exception as error:  # nats-py raises several types when a connection drops
                log.warning("slot watch failed (%s); watching again", type(error).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await watcher.stop()
            while True:
                await asyncio.sleep(self._poll_s)
                try:
                    watcher = await self._watch()
                    break
                except Exception as error:
                    log.warning("slot watch not restarted yet (%s)", type(error).__name__)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            leases = list(self._held.values())
            results = await asyncio.gather(
                *(self._refresh(lease) for lease in leases), return_exceptions=True
            )
            for lease, result in zip(leases, results, strict=True):
                if isinstance(result, Exception):
                    log.warning("could not refresh slot %s: %s", lease.slot, type(result).__name__)

    async def _refresh(self, lease: Lease) -> None:
        async with lease.lock:
            if lease.lost or lease.slot not in self._held:
                return
            try:
                lease.revision = await self._kv.update(lease.slot, self._value(), last=lease.revision)
                return
            except KeyWrongLastSequenceError:
                pass
            # The entry expired (we were too slow) or somebody took the slot; re-take it if it is free.
            try:
                lease.revision = await self._kv.create(lease.slot, self._value())
                log.warning("slot %s expired under its holder and was re-taken", lease.slot)
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                lease.lost = True
                self._metrics.leases_lost.labels(lease.key.fingerprint).inc()
                log.error("slot %s lost: the lease expired and another holder took it", lease.slot)
