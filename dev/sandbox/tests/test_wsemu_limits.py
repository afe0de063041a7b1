"""WaveSpeed emulator: per-account concurrency (queue, not refuse) and the start-rate limit."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from medialab_sandbox.wavespeed import (
    FACE_SWAP_MODEL,
    AccountLevel,
    EmulatorConfig,
    WaveSpeedEmulator,
)
from medialab_sandbox.wavespeed.accounts import SlotPool
from medialab_sandbox.wavespeed.testing import (
    api_client,
    bearer,
    data_uri,
    poll_result,
    sample_image,
)
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY, OTHER_KEY = "ws-limits-key", "ws-limits-other"
SUBMIT = f"/api/v3/{FACE_SWAP_MODEL}"
BODY = {"image": data_uri(sample_image()), "face_image": data_uri(sample_image("blue"))}


@pytest.fixture(scope="module")
def wsemu_unstarted() -> WaveSpeedEmulator:
    return WaveSpeedEmulator(
        [KEY, OTHER_KEY], max_concurrency=2, config=EmulatorConfig(processing_seconds=0.01)
    )


async def submit(api: httpx.AsyncClient, key: str = KEY) -> str:
    response = await api.post(SUBMIT, json=BODY, headers=bearer(key))
    assert response.status_code == 200
    return str(response.json()["data"]["id"])


async def status(api: httpx.AsyncClient, task_id: str, key: str = KEY) -> str:
    response = await api.get(f"/api/v3/predictions/{task_id}/result", headers=bearer(key))
    return str(response.json()["data"]["status"])


async def test_tasks_beyond_the_limit_queue_as_created(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.hold()
    ids = [await submit(wsemu_api) for _ in range(3)]
    await eventually(lambda: wsemu.records.processing_now(KEY) == 2)
    await asyncio.sleep(0.03)  # a free slot would have been taken by now
    assert [await status(wsemu_api, task_id) for task_id in ids] == ["processing", "processing", "created"]
    account = wsemu.state().accounts[KEY]
    assert (account.processing, account.queued) == (2, 1)

    wsemu.release()
    assert [(await poll_result(wsemu_api, task_id))["status"] for task_id in ids] == ["completed"] * 3
    assert wsemu.records.max_processing_seen(KEY) == 2
    assert wsemu.records.max_processing_seen() == 2
    assert wsemu.records.processing_now() == 0


async def test_raising_the_limit_starts_queued_tasks(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.set_limits(KEY, max_concurrency=1)
    wsemu.hold()
    first, second = await submit(wsemu_api), await submit(wsemu_api)
    await eventually(lambda: wsemu.records.processing_now(KEY) == 1)
    assert await status(wsemu_api, second) == "created"
    wsemu.set_limits(KEY, max_concurrency=2)
    await eventually(lambda: wsemu.records.processing_now(KEY) == 2)
    assert (await status(wsemu_api, first), await status(wsemu_api, second)) == ("processing", "processing")


async def test_accounts_do_not_share_slots(wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient) -> None:
    wsemu.set_limits(max_concurrency=1)
    wsemu.hold()
    await submit(wsemu_api)
    queued = await submit(wsemu_api)
    other = await submit(wsemu_api, OTHER_KEY)
    await eventually(lambda: wsemu.records.processing_now() == 2)
    assert await status(wsemu_api, queued) == "created"
    assert await status(wsemu_api, other, OTHER_KEY) == "processing"
    assert wsemu.records.max_processing_seen(OTHER_KEY) == 1


async def test_keys_of_one_account_share_its_limits() -> None:
    emu = WaveSpeedEmulator(
        accounts={"team": ["k-a", "k-b"]},
        max_concurrency=1,
        starts_per_minute=2,
        config=EmulatorConfig(processing_seconds=0.01),
    )
    async with emu, api_client(emu) as api:
        emu.hold()
        first, second = await submit(api, "k-a"), await submit(api, "k-b")
        await eventually(lambda: emu.records.processing_now("team") == 1)
        assert await status(api, second, "k-b") == "created"
        # The task belongs to the account, so either key may poll it.
        assert await status(api, first, "k-b") == "processing"
        assert (await api.post(SUBMIT, json=BODY, headers=bearer("k-a"))).status_code == 429


async def test_start_rate_limit_answers_429_then_recovers(
    wsemu: WaveSpeedEmulator, wsemu_api: httpx.AsyncClient
) -> None:
    wsemu.set_limits(KEY, starts_per_minute=2)
    await submit(wsemu_api)
    await submit(wsemu_api)
    refused = await wsemu_api.post(SUBMIT, json=BODY)
    assert refused.status_code == 429
    assert refused.json()["code"] == 429 and refused.json()["message"]
    assert "retry-after" not in refused.headers
    assert len(wsemu.tasks()) == 2
    assert wsemu.records.submits[-1].status_code == 429
    await submit(wsemu_api, OTHER_KEY)  # another account has its own window

    wsemu.configure(retry_after_header=True)
    assert 59 <= int((await wsemu_api.post(SUBMIT, json=BODY)).headers["retry-after"]) <= 60
    # A short window lets the old starts expire.
    wsemu.configure(rate_window_seconds=0.05)
    await asyncio.sleep(0.06)
    await submit(wsemu_api)


async def test_levels_carry_the_documented_limits() -> None:
    bronze = WaveSpeedEmulator(["k"], level=AccountLevel.BRONZE).state().accounts["k"].limits
    assert (bronze.max_concurrency, bronze.starts_per_minute) == (2, 2)
    custom = WaveSpeedEmulator(["k"], level=AccountLevel.GOLD, max_concurrency=5)
    limits = custom.state().accounts["k"].limits
    assert (limits.max_concurrency, limits.starts_per_minute) == (5, 3000)
    with pytest.raises(ValueError, match="API key"):
        WaveSpeedEmulator([])


async def test_slot_pool_is_fifo_and_survives_cancelled_waiters() -> None:
    pool = SlotPool(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def worker(name: str) -> None:
        async with pool.slot():
            order.append(name)
            await gate.wait()

    first = asyncio.create_task(worker("a"))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(worker(name)) for name in "bcd"]
    await asyncio.sleep(0)
    waiting[0].cancel()
    gate.set()
    await asyncio.gather(first, *waiting[1:])
    assert order == ["a", "c", "d"]
    assert (pool.active, pool.waiting) == (0, 0)
