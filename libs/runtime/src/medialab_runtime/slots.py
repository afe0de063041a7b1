"""Provider slots: at most N calls in progress per provider account, over every replica of every service.

Each account of a provider owns N slots, the keys ``<provider>.<account>.<i>`` (i < N) of the
``slots`` KV bucket; all keys of the account share them (providers count per account). Holding a
slot means having written that key:
- acquire = ``create`` (fails while the key holds a value), or ``update(last=<tombstone revision>)``
  when a watch told us the slot was just released (one round trip instead of three);
- the holder rewrites its keys every lease/3 with ``update(last=rev)``; the bucket's TTL is the lease,
  so the key of a holder that died expires by itself;
- release = a delete marker written with ``last=rev``, which can never remove a slot somebody else
  took over; its revision, from the publish ack, lets a waiter here take the slot in one more round
  trip without waiting for the watch.
Waiters sleep on a KV watch of the provider's slots (woken by every delete) plus a jittered poll that
also retries slots whose holder has been silent for a whole lease (expiry leaves no event).

Secrets never reach the bucket, logs or metrics: slots are named by account, keys by their
fingerprint (provider_keys.py). See docs/provider-slots.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial

from medialab_contracts import subjects
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue
from prometheus_client import Counter, Gauge, Histogram

from medialab_runtime.key_bench import KeyBench
from medialab_runtime.kv_keys import keys_matching
from medialab_runtime.provider_keys import Account, ProviderKey
from medialab_runtime.tasks import cancel_and_wait

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
ANY_ACCOUNT = "any"

OnPosition = Callable[[int], Awaitable[None]]


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
        in_use=Gauge(f"{prefix}_slots_in_use", "Provider slots held by this process", ["account"]),
        limit=Gauge(
            f"{prefix}_slots_limit", "In-progress limit of an account, shared by every replica", ["account"]
        ),
        waiting=Gauge(
            f"{prefix}_slots_waiting",
            "Callers in this process waiting for a slot (account 'any' = any account of the pool)",
            ["account"],
        ),
        wait_seconds=Histogram(
            f"{prefix}_slot_wait_seconds",
            "Time from asking for a provider slot to holding one",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        ),
        leases_lost=Counter(
            f"{prefix}_slot_leases_lost_total",
            "Leases that expired under a live holder (it could not refresh in time)",
            ["account"],
        ),
        benched=Gauge(
            f"{prefix}_key_benched",
            "1 while this process keeps a key out of rotation because the provider refused it",
            ["account", "key"],
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
    """The slots of one provider's accounts, shared with every other process through the KV bucket."""

    def __init__(
        self,
        js: JetStreamContext,
        kv: KeyValue,
        provider: str,
        accounts: Sequence[Account],
        *,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
    ) -> None:
        if not accounts:
            raise ValueError(f"no API keys for {provider}")
        self.provider = provider
        self.rotation = KeyBench(accounts)
        self.accounts = self.rotation.accounts
        self.lease_s = lease_s
        self._js = js
        self._kv = kv
        self._subject_prefix = f"$KV.{subjects.SLOTS_BUCKET}."  # the KV wire format (NATS ADR-8)
        self._poll_s = poll_s
        self._holder = _holder_id()
        self._metrics = slot_metrics(provider)
        self._seen: dict[str, _SlotSeen] = {}
        self._claiming: set[str] = set()
        self._held: dict[str, Lease] = {}
        self._waiters: list[object] = []  # callers waiting here, in order of arrival
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        for account in self.accounts:
            self._metrics.in_use.labels(account.name).set(0)
            self._metrics.limit.labels(account.name).set(account.limit)
            for key in account.keys:
                # Read at scrape time from the bench itself, so no code path has to keep it in step.
                benched = self._metrics.benched.labels(account.name, key.fingerprint)
                benched.set_function(partial(self.rotation.is_benched, key))

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        provider: str,
        accounts: Sequence[Account],
        *,
        poll_s: float = 1.0,
    ) -> SlotPool:
        """Open the pool on the ``slots`` bucket; its TTL (set at provisioning) is the lease."""
        kv = await js.key_value(subjects.SLOTS_BUCKET)
        ttl = (await kv.status()).ttl
        pool = cls(js, kv, provider, accounts, lease_s=ttl or DEFAULT_LEASE_S, poll_s=poll_s)
        await pool.start()
        return pool

    def slot_names(self, account: Account) -> list[str]:
        return [f"{self.provider}.{account.name}.{i}" for i in range(account.limit)]

    async def start(self) -> None:
        watcher = await self._watch()
        self._tasks = [
            asyncio.create_task(self._follow(watcher), name=f"slots-{self.provider}-watch"),
            asyncio.create_task(self._refresh_forever(), name=f"slots-{self.provider}-refresh"),
        ]

    async def close(self) -> None:
        """Stop watching and refreshing. Leases still held belong to abandoned calls: they expire."""
        await cancel_and_wait(self._tasks)
        self._tasks = []

    # ----- holding ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def hold(
        self, timeout: float, key: str | None = None, on_position: OnPosition | None = None
    ) -> AsyncIterator[Lease]:
        """Hold a slot for the body of the block: of the account of key ``key`` (a fingerprint),
        used with that key, if given; else of any account, with a key of it in rotation.

        ``on_position`` hears the caller's place among this process's waiters (0 = next) whenever it
        changes while it waits. Released when the block ends; if the block is cancelled (shutdown, a
        caller's timeout) the provider call may still be running, so the lease is left to expire.
        """
        lease = await self.acquire(timeout, key, on_position)
        try:
            yield lease
        except asyncio.CancelledError:
            self.abandon(lease)
            raise
        except BaseException:
            await self.release(lease)
            raise
        await self.release(lease)

    async def acquire(
        self, timeout: float, key: str | None = None, on_position: OnPosition | None = None
    ) -> Lease:
        own = self.rotation.key(key) if key is not None else None
        if key is not None and own is None:
            raise ValueError("unknown key fingerprint")
        started = time.monotonic()
        deadline = started + timeout
        waiting = self._metrics.waiting.labels(own.account if own else ANY_ACCOUNT)
        thorough = False
        ticket = object()
        position: int | None = None
        try:
            while True:
                changed = self._changed  # taken before trying, so a release during the try wakes us
                lease = await self._try_acquire(own, thorough)
                if lease is not None:
                    self._metrics.wait_seconds.observe(time.monotonic() - started)
                    return lease
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SlotTimeout(f"no {self.provider} slot free within {timeout:.1f}s")
                if position is None:
                    waiting.inc()
                    self._waiters.append(ticket)
                ahead = self._waiters.index(ticket)
                if ahead != position:
                    position = ahead
                    if on_position is not None:
                        await on_position(ahead)
                pause = min(remaining, self._poll_s * random.uniform(0.5, 1.5))
                try:
                    await asyncio.wait_for(changed.wait(), pause)
                    thorough = False
                except TimeoutError:
                    thorough = True
        finally:
            if position is not None:
                waiting.dec()
                self._waiters.remove(ticket)
                self._notify()  # those behind move up; waking them costs no KV call while all is held

    async def release(self, lease: Lease) -> None:
        if self._held.pop(lease.slot, None) is None:
            return
        self._metrics.in_use.labels(lease.key.account).dec()
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
            self._metrics.in_use.labels(lease.key.account).dec()

    @property
    def held(self) -> int:
        return len(self._held)

    async def occupied(self) -> dict[str, int]:
        """Slots taken right now per account, across the cluster (read from the bucket)."""
        counts = {account.name: 0 for account in self.accounts}
        for name in await keys_matching(self._kv, f"{self.provider}.>"):
            account = name.split(".")[1]  # <provider>.<account>.<slot>
            if account in counts:
                counts[account] += 1
        return counts

    # ----- internals -------------------------------------------------------------------------------

    def _candidates(self, own: ProviderKey | None, thorough: bool) -> list[tuple[Account, str]]:
        """Slots worth a try, accounts with the most free slots first so pooled accounts fill evenly."""
        now = time.monotonic()
        per_account: list[tuple[int, float, Account, list[str]]] = []
        rotation = (
            (self.rotation.account(own.account),) if own is not None else self.rotation.usable_accounts()
        )
        for account in rotation:
            free: list[str] = []
            stale: list[str] = []
            for name in self.slot_names(account):
                if name in self._claiming or name in self._held:
                    continue
                seen = self._seen.get(name)
                if seen is None or not seen.occupied:
                    free.append(name)
                elif thorough and now - seen.seen_at > self.lease_s:
                    stale.append(name)  # its holder went silent: the entry has likely expired
            random.shuffle(free)
            per_account.append((len(free), random.random(), account, free + stale))
        per_account.sort(key=lambda item: (-item[0], item[1]))
        return [(account, name) for _, _, account, names in per_account for name in names]

    async def _try_acquire(self, own: ProviderKey | None, thorough: bool) -> Lease | None:
        for account, name in self._candidates(own, thorough):
            self._claiming.add(name)
            try:
                revision = await self._take(name)
            finally:
                self._claiming.discard(name)
            if revision is not None:
                lease = Lease(own or random.choice(self.rotation.usable_keys(account)), name, revision)
                self._held[name] = lease
                self._seen[name] = _SlotSeen(True, revision, time.monotonic())
                self._metrics.in_use.labels(account.name).inc()
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
                self._metrics.leases_lost.labels(lease.key.account).inc()
                log.error("slot %s lost: the lease expired and another holder took it", lease.slot)
