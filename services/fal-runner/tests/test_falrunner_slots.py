"""Provider slots (medialab_runtime.slots) on a real nats-server: limits, pooling, leases, wake-ups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.slots import KeySpecError, ProviderKey, SlotPool, SlotTimeout, fingerprint, parse_keys
from nats.aio.client import Client

SECRET_A = "key-a:secret-aaaaaaaa"
SECRET_B = "key-b:secret-bbbbbbbb"


def test_parse_keys_accepts_comma_json_and_per_key_limits() -> None:
    keys = parse_keys(f" {SECRET_A} , {SECRET_B}@12 ", 10)
    assert [(k.limit, k.fingerprint) for k in keys] == [
        (10, fingerprint(SECRET_A)),
        (12, fingerprint(SECRET_B)),
    ]
    assert keys[0].secret.get_secret_value() == SECRET_A
    as_json = parse_keys(f'["{SECRET_A}@3", {{"key": "{SECRET_B}", "limit": 4}}]', 10)
    assert [k.limit for k in as_json] == [3, 4]
    assert parse_keys("", 10) == []
    # A secret with an '@' that is not a limit stays whole.
    assert parse_keys("id:se@cret", 10)[0].secret.get_secret_value() == "id:se@cret"


@pytest.mark.parametrize(
    "raw",
    [f"{SECRET_A}@0", "[1]", f'[{{"key": "{SECRET_A}", "limit": "x"}}]', "[oops", f"{SECRET_A},{SECRET_A}"],
)
def test_parse_keys_errors_never_show_the_secret(raw: str) -> None:
    with pytest.raises(KeySpecError) as error:
        parse_keys(raw, 10)
    assert "aaaa" not in str(error.value)


def test_fingerprint_is_short_and_hides_the_secret() -> None:
    fp = ProviderKey.of(SECRET_A, 10).fingerprint
    assert len(fp) == 12 and "aaaa" not in fp and fp == fingerprint(SECRET_A)
    assert "aaaa" not in repr(ProviderKey.of(SECRET_A, 10))


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    await ensure_layout(client.jetstream(), LayoutConfig(slots_ttl_s=1.5))
    yield client
    await client.close()


async def open_pool(nc: Client, *keys: ProviderKey, poll_s: float = 0.2) -> SlotPool:
    return await SlotPool.open(nc.jetstream(), "fal", keys, poll_s=poll_s)


async def test_at_most_n_holders_across_pools_and_waiters_wake_on_release(nats_url: str, nc: Client) -> None:
    other_nc = await nats.connect(nats_url)
    key = ProviderKey.of(SECRET_A, 3)
    pools = [await open_pool(nc, key, poll_s=5.0), await open_pool(other_nc, key, poll_s=5.0)]
    try:
        assert pools[0].lease_s == pytest.approx(1.5)
        holding = 0
        peak = 0

        async def worker(pool: SlotPool) -> None:
            nonlocal holding, peak
            async with pool.hold(timeout=10):
                holding += 1
                peak = max(peak, holding)
                await asyncio.sleep(0.05)
                holding -= 1

        started = time.monotonic()
        await asyncio.gather(*(worker(pools[i % 2]) for i in range(24)))
        # 24 holds of 50 ms through 3 slots: ~0.4 s when waiters wake on releases (the poll is 5 s).
        assert time.monotonic() - started < 2.0
        assert peak == 3
        assert await pools[0].occupied() == {key.fingerprint: 0}
    finally:
        for pool in pools:
            await pool.close()
        await other_nc.close()


async def test_timeout_when_all_slots_are_held(nc: Client) -> None:
    pool = await open_pool(nc, ProviderKey.of(SECRET_A, 1))
    try:
        async with pool.hold(timeout=1):
            with pytest.raises(SlotTimeout):
                await pool.acquire(timeout=0.3)
    finally:
        await pool.close()


async def test_pooled_keys_fill_evenly_and_each_keeps_its_own_limit(nc: Client) -> None:
    a, b = ProviderKey.of(SECRET_A, 2), ProviderKey.of(SECRET_B, 3)
    pool = await open_pool(nc, a, b)
    try:
        leases = [await pool.acquire(timeout=1) for _ in range(5)]
        assert sorted(lease.key.fingerprint for lease in leases) == sorted(
            [a.fingerprint] * 2 + [b.fingerprint] * 3
        )
        assert await pool.occupied() == {a.fingerprint: 2, b.fingerprint: 3}
        with pytest.raises(SlotTimeout):
            await pool.acquire(timeout=0.2)
        await pool.release(leases[0])
        again = await pool.acquire(timeout=1, key=leases[0].key.fingerprint)
        assert again.key == leases[0].key
        for lease in [again, *leases[1:]]:
            await pool.release(lease)
        assert await pool.occupied() == {a.fingerprint: 0, b.fingerprint: 0}
    finally:
        await pool.close()


async def test_a_dead_holders_slot_expires_and_a_live_holder_keeps_its_own(nats_url: str, nc: Client) -> None:
    key = ProviderKey.of(SECRET_A, 2)
    dead_nc = await nats.connect(nats_url)
    dead = await open_pool(dead_nc, key)
    await dead.acquire(timeout=1)
    await dead.close()  # stops refreshing, as a killed process would
    await dead_nc.close()

    pool = await open_pool(nc, key)
    try:
        kept = await pool.acquire(timeout=1)
        with pytest.raises(SlotTimeout):
            await pool.acquire(timeout=0.2)
        started = time.monotonic()
        second = await pool.acquire(timeout=6)  # freed by expiry (lease 1.5 s), found by the poll
        assert time.monotonic() - started < 4
        await asyncio.sleep(2.5)  # longer than the lease: only refreshes keep ours alive
        assert await pool.occupied() == {key.fingerprint: 2}
        assert not kept.lost and not second.lost
        await pool.release(kept)
        await pool.release(second)
        assert await pool.occupied() == {key.fingerprint: 0}
    finally:
        await pool.close()


async def test_cancelled_holder_leaves_the_lease_to_expire(nc: Client) -> None:
    key = ProviderKey.of(SECRET_A, 1)
    pool = await open_pool(nc, key)
    try:

        async def call_that_gets_cancelled() -> None:
            async with pool.hold(timeout=1):
                await asyncio.sleep(10)

        task = asyncio.create_task(call_that_gets_cancelled())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.held == 0
        assert await pool.occupied() == {key.fingerprint: 1}  # the provider call may still run
        await pool.acquire(timeout=5)  # ...until the lease runs out
    finally:
        await pool.close()


async def test_a_release_with_nats_away_leaves_the_lease_to_expire(nats_url: str, nc: Client) -> None:
    """The provider call is over when its slot is released: NATS being away then (a server restart)
    must not turn the finished call into a failure. The slot frees itself at the lease's end."""
    key = ProviderKey.of(SECRET_A, 1)
    cut_nc = await nats.connect(nats_url)
    cut = await open_pool(cut_nc, key)
    lease = await cut.acquire(timeout=1)
    await cut_nc.close()
    await cut.release(lease)  # raises nothing
    assert cut.held == 0
    await cut.close()

    pool = await open_pool(nc, key)
    try:
        await pool.acquire(timeout=5)  # after the 1.5 s lease
    finally:
        await pool.close()
