"""Provider slots (medialab_runtime.slots) on a real nats-server: account limits, leases, wake-ups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
from medialab_runtime.provider_keys import Account, ProviderKey
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.slots import SlotPool, SlotTimeout
from medialab_sandbox.fal import FalEmulator
from medialab_testkit.fal import KEY, OTHER_KEY, THIRD_KEY, Bus, RunnerFactory, make_job
from nats.aio.client import Client

SECRET_A = "key-a:secret-aaaaaaaa"
SECRET_B = "key-b:secret-bbbbbbbb"
SECRET_C = "key-c:secret-cccccccc"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    await ensure_layout(client.jetstream(), LayoutConfig(slots_ttl_s=1.5))
    yield client
    await client.close()


async def open_pool(nc: Client, *accounts: Account, poll_s: float = 0.2) -> SlotPool:
    return await SlotPool.open(nc.jetstream(), "fal", accounts, poll_s=poll_s)


async def test_at_most_n_holders_across_pools_and_waiters_wake_on_release(nats_url: str, nc: Client) -> None:
    other_nc = await nats.connect(nats_url)
    key = Account.single(SECRET_A, 3)
    pools = [await open_pool(nc, key, poll_s=30.0), await open_pool(other_nc, key, poll_s=30.0)]
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
        # 24 holds of 50 ms through 3 slots: ~0.4 s when waiters wake on releases; waiting for the
        # 30 s poll instead, the seven rounds of waiters would take minutes.
        assert time.monotonic() - started < 25
        assert peak == 3
        assert await pools[0].occupied() == {key.name: 0}
    finally:
        for pool in pools:
            await pool.close()
        await other_nc.close()


async def test_timeout_when_all_slots_are_held(nc: Client) -> None:
    pool = await open_pool(nc, Account.single(SECRET_A, 1))
    try:
        async with pool.hold(timeout=1):
            with pytest.raises(SlotTimeout):
                await pool.acquire(timeout=0.3)
    finally:
        await pool.close()


async def test_pooled_accounts_fill_evenly_and_each_keeps_its_own_limit(nc: Client) -> None:
    a, b = Account.single(SECRET_A, 2), Account.single(SECRET_B, 3)
    pool = await open_pool(nc, a, b)
    try:
        leases = [await pool.acquire(timeout=1) for _ in range(5)]
        assert sorted(lease.key.account for lease in leases) == sorted([a.name] * 2 + [b.name] * 3)
        assert await pool.occupied() == {a.name: 2, b.name: 3}
        with pytest.raises(SlotTimeout):
            await pool.acquire(timeout=0.2)
        await pool.release(leases[0])
        again = await pool.acquire(timeout=1, key=leases[0].key.fingerprint)
        assert again.key == leases[0].key
        for lease in [again, *leases[1:]]:
            await pool.release(lease)
        assert await pool.occupied() == {a.name: 0, b.name: 0}
    finally:
        await pool.close()


async def test_a_dead_holders_slot_expires_and_a_live_holder_keeps_its_own(nats_url: str, nc: Client) -> None:
    key = Account.single(SECRET_A, 2)
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
        second = await pool.acquire(timeout=6)  # freed by expiry (lease 1.5 s), found by the poll
        await asyncio.sleep(2.5)  # longer than the lease: only refreshes keep ours alive
        assert await pool.occupied() == {key.name: 2}
        assert not kept.lost and not second.lost
        await pool.release(kept)
        await pool.release(second)
        assert await pool.occupied() == {key.name: 0}
    finally:
        await pool.close()


async def test_cancelled_holder_leaves_the_lease_to_expire(nc: Client) -> None:
    key = Account.single(SECRET_A, 1)
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
        assert await pool.occupied() == {key.name: 1}  # the provider call may still run
        await pool.acquire(timeout=5)  # ...until the lease runs out
    finally:
        await pool.close()


async def test_a_release_with_nats_away_leaves_the_lease_to_expire(nats_url: str, nc: Client) -> None:
    """The provider call is over when its slot is released: NATS being away then (a server restart)
    must not turn the finished call into a failure. The slot frees itself at the lease's end."""
    key = Account.single(SECRET_A, 1)
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


async def test_three_keys_of_one_account_share_its_limit_across_two_pools(nats_url: str, nc: Client) -> None:
    account = Account("main", 2, tuple(ProviderKey.of(s, "main") for s in (SECRET_A, SECRET_B, SECRET_C)))
    other_nc = await nats.connect(nats_url)
    pools = [await open_pool(nc, account), await open_pool(other_nc, account)]
    try:
        first = await pools[0].acquire(timeout=1)
        second = await pools[1].acquire(timeout=1)
        assert {first.slot, second.slot} == {"fal.main.0", "fal.main.1"}
        assert first.key.account == second.key.account == "main"
        with pytest.raises(SlotTimeout):  # three keys, yet two in progress for the account
            await pools[0].acquire(timeout=0.3)
        # A resumed request needs its own key: it gets that key, on the account's slots.
        await pools[1].release(second)
        resumed = await pools[0].acquire(timeout=1, key=ProviderKey.of(SECRET_C).fingerprint)
        assert resumed.key.fingerprint == ProviderKey.of(SECRET_C).fingerprint
        assert await pools[1].occupied() == {"main": 2}
        for lease in (first, resumed):
            await pools[0].release(lease)
    finally:
        for pool in pools:
            await pool.close()
        await other_nc.close()


async def test_a_benched_key_leaves_its_account_on_the_others(nc: Client) -> None:
    keys = tuple(ProviderKey.of(s, "main") for s in (SECRET_A, SECRET_B))
    pool = await open_pool(nc, Account("main", 4, keys))
    try:
        assert pool.rotation.bench(keys[0], 60)  # another key of the account is left
        leases = [await pool.acquire(timeout=1) for _ in range(4)]
        assert {lease.key for lease in leases} == {keys[1]}
        for lease in leases:
            await pool.release(lease)
    finally:
        await pool.close()


async def test_waiters_hear_their_place_in_the_queue(nc: Client) -> None:
    pool = await open_pool(nc, Account.single(SECRET_A, 1), poll_s=5.0)
    heard: dict[int, list[int]] = {1: [], 2: []}
    try:
        held = await pool.acquire(timeout=1)

        async def waiter(n: int) -> None:
            async def on_position(ahead: int) -> None:
                heard[n].append(ahead)

            async with pool.hold(timeout=5, on_position=on_position):
                await asyncio.sleep(0.05)

        first = asyncio.create_task(waiter(1))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(waiter(2))
        await asyncio.sleep(0.1)
        await pool.release(held)
        await asyncio.gather(first, second)
        assert heard == {1: [0], 2: [1, 0]}  # the second moved up when the first got the slot
    finally:
        await pool.close()


async def test_two_runner_replicas_keep_three_keys_of_one_account_at_its_limit(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    fal.set_account("main", [KEY, OTHER_KEY, THIRD_KEY])  # fal itself would run them all at once
    fal.set_latency(run_seconds=0.5)
    keys = ",".join(f"main={key}" for key in (KEY, OTHER_KEY, THIRD_KEY))
    for _ in range(2):
        await start_runner(fal_keys=keys)  # the default limit: 2 in progress per account
    jobs = [make_job("nb", prompt=f"fox {n}") for n in range(8)]
    results = await asyncio.gather(*(bus.run(job, timeout=30) for job in jobs))
    assert all(result.kind == "succeeded" for result in results), results
    assert fal.concurrency("main").max_in_flight == fal.concurrency("main").max_running == 2
    assert len(fal.submit_counts_by_key()) > 1  # the account's keys share its slots
