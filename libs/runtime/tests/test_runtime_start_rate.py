"""Task starts per window (medialab_runtime.start_rate) on a real nats-server, shared by two processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import nats
import pytest
from medialab_contracts import subjects
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.start_rate import StartLimiter, StartRate, StartTimeout, start_key
from nats.aio.client import Client

FINGERPRINT = "0123456789ab"
SLOTS_TTL_S = 1.5


@pytest.fixture
async def replicas(nats_url: str) -> AsyncIterator[list[Client]]:
    """Two connections, as two runner replicas would have."""
    clients = [await nats.connect(nats_url) for _ in range(2)]
    await ensure_layout(clients[0].jetstream(), LayoutConfig(slots_ttl_s=SLOTS_TTL_S))
    yield clients
    for client in clients:
        await client.close()


async def open_limiters(clients: list[Client], rate: StartRate) -> list[StartLimiter]:
    return [await StartLimiter.open(c.jetstream(), "wavespeed", FINGERPRINT, rate) for c in clients]


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window) for start in ordered)


async def test_two_replicas_never_take_more_starts_than_the_limit_in_a_window(
    replicas: list[Client],
) -> None:
    rate = StartRate(limit=2, window_s=0.6)
    limiters = await open_limiters(replicas, rate)
    try:
        # Eight callers spread over two replicas race for starts; each start is recorded once.
        takes = [limiters[i % 2].take(timeout=10) for i in range(8)]
        times = list(await asyncio.gather(*takes))
    finally:
        for limiter in limiters:
            await limiter.close()
    assert len(set(times)) == 8
    assert most_in_any_window(times, rate.window_s) == 2, sorted(times)


async def test_ready_takes_nothing_and_a_full_window_times_out_at_once(replicas: list[Client]) -> None:
    rate = StartRate(limit=1, window_s=30)
    first, second = await open_limiters(replicas, rate)
    try:
        await first.ready(timeout=1)
        await second.ready(timeout=1)  # ready() left the start for somebody to take
        await first.take(timeout=1)
        with pytest.raises(StartTimeout):
            await second.take(timeout=5)  # 30 s to the next start: no point waiting 5 s for it
        with pytest.raises(StartTimeout):
            await second.ready(timeout=5)
    finally:
        await first.close()
        await second.close()


async def test_the_log_outlives_a_bucket_ttl_shorter_than_the_window(replicas: list[Client]) -> None:
    rate = StartRate(limit=1, window_s=SLOTS_TTL_S * 3)
    [limiter] = await open_limiters(replicas[:1], rate)
    kv = await replicas[1].jetstream().key_value(subjects.SLOTS_BUCKET)
    try:
        taken = await limiter.take(timeout=1)
        # Two TTLs later the entry is still there and still holds the start (it was rewritten).
        await asyncio.sleep(SLOTS_TTL_S * 2)
        entry = await kv.get(start_key("wavespeed", FINGERPRINT))
        assert entry.value is not None and json.loads(entry.value)["starts"] == [taken]
        with pytest.raises(StartTimeout):
            await limiter.take(timeout=0.1)
    finally:
        await limiter.close()


def test_a_rate_needs_a_limit_and_a_window() -> None:
    with pytest.raises(ValueError):
        StartRate(limit=0, window_s=60)
    with pytest.raises(ValueError):
        StartRate(limit=2, window_s=0)
