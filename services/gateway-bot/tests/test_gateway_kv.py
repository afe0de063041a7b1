"""Shared state over a real NATS KV: the FSM storage, flow inputs, album assembly, waiting orders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from gateway_bot.failures import TooManyImages
from gateway_bot.flows.albums import AlbumCollector, AlbumPart
from gateway_bot.flows.confirm import take
from gateway_bot.flows.drafts import OrderDraft, new_flow
from gateway_bot.flows.inputs import FlowInputs
from gateway_bot.flows.launcher import Order
from gateway_bot.flows.steps import begin
from gateway_bot.states import ConfirmFlow
from gateway_bot.storage.fsm import KvStorage
from gateway_bot.storage.kv import RememberingCas
from gateway_bot.storage.records import (
    Claim,
    DeliveryMarks,
    LaunchClaims,
    SeenUpdates,
    open_gateway_bucket,
)
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import ImageSize
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_runtime.kv_keys import keys_matching
from medialab_runtime.provisioning import ensure_layout
from nats.js import JetStreamContext


class Flow(StatesGroup):
    step = State()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield js
    await nc.close()


def key(chat_id: int = -1001234, user_id: int = 42) -> StorageKey:
    return StorageKey(bot_id=123, chat_id=chat_id, user_id=user_id)


async def test_fsm_state_and_data_survive_another_storage_instance(js: JetStreamContext) -> None:
    replica_a = KvStorage(await js.key_value(subjects.FSM_BUCKET))
    replica_b = KvStorage(await js.key_value(subjects.FSM_BUCKET))
    await replica_a.set_state(key(), Flow.step)
    await replica_a.set_data(key(), {"flow": "abcd", "n": 1})
    assert await replica_b.get_state(key()) == "Flow:step"
    assert await replica_b.get_data(key()) == {"flow": "abcd", "n": 1}
    assert await replica_b.get_state(key(user_id=43)) is None
    assert await replica_b.get_data(key(user_id=43)) == {}
    await replica_b.set_state(key(), None)
    await replica_b.set_data(key(), {})
    assert await replica_a.get_state(key()) is None
    assert await replica_a.get_data(key()) == {}


async def test_fsm_concurrent_updates_lose_nothing(js: JetStreamContext) -> None:
    replicas = [KvStorage(await js.key_value(subjects.FSM_BUCKET)) for _ in range(2)]
    await asyncio.gather(
        *(replicas[i % 2].update_data(key(), {f"field{i}": i}) for i in range(20)),
        replicas[0].set_state(key(), Flow.step),
    )
    data = await replicas[1].get_data(key())
    assert data == {f"field{i}": i for i in range(20)}
    assert await replicas[1].get_state(key()) == "Flow:step"


async def test_ending_a_launched_flow_keeps_the_one_the_user_began_meanwhile(js: JetStreamContext) -> None:
    """The handler that launched flow «old» ends it after the launch; by then another update of the
    same chat (another task, or another replica) began flow «new», which stays."""
    launching = KvStorage(await js.key_value(subjects.FSM_BUCKET))
    other = KvStorage(await js.key_value(subjects.FSM_BUCKET))
    chat = key(user_id=44)
    await launching.set_data(chat, {"flow": "old"})
    await launching.set_state(chat, Flow.step)
    await other.set_data(chat, {"flow": "new", "n": 1})
    await other.set_state(chat, Flow.step)

    assert not await launching.end_flow(chat, "old")
    assert await other.get_data(chat) == {"flow": "new", "n": 1}
    assert await other.get_state(chat) == "Flow:step"

    assert await launching.end_flow(chat, "new")
    assert await other.get_data(chat) == {}
    assert await other.get_state(chat) is None


async def test_keys_matching_lists_present_keys_by_pattern_at_once(js: JetStreamContext) -> None:
    kv = await js.key_value(subjects.ALBUMS_BUCKET)
    await kv.put("7001.a", b"1")
    await kv.put("7001.b", b"1")
    await kv.put("7001.gone", b"1")
    await kv.delete("7001.gone")
    await kv.put("7001.purged", b"1")
    await kv.purge("7001.purged")
    await kv.put("70011.c", b"1")
    assert await keys_matching(kv, "7001.*") == ["7001.a", "7001.b"]
    assert await keys_matching(kv, "7001.a", "7001.>") == ["7001.a", "7001.b"]
    assert await keys_matching(kv, "7002.>") == []
    # A key is listed the moment its write is acknowledged, however many are written together (a
    # watch's end-of-keys marker could come before the last keys on a busy machine).
    for round_ in range(20):
        names = [f"7003.{round_}.{n}" for n in range(8)]
        await asyncio.gather(*(kv.put(name, b"1") for name in names))
        assert await keys_matching(kv, f"7003.{round_}.*") == sorted(names)


async def test_remembering_cas_loses_no_change_made_elsewhere(js: JetStreamContext) -> None:
    kv = await js.key_value(subjects.ALBUMS_BUCKET)
    mine, other = RememberingCas(kv, capacity=2), RememberingCas(kv)

    def bump(count: int | None) -> int:
        return (count or 0) + 1

    for n in range(12):
        await (mine if n % 3 else other).update("7004.count", bump)  # each makes the other's stale
        await mine.update(f"7004.{n}", bump)  # more keys than `mine` remembers
    assert (await kv.get("7004.count")).value == b"12"
    await kv.purge("7004.count")
    assert await mine.update("7004.count", bump) == (1, (await kv.get("7004.count")).revision)
    await kv.put("7004.count", b"10")
    assert (await mine.update("7004.count", bump))[0] == 11
    assert await other.read("7004.count") == 11  # remembered as read
    assert (await mine.update("7004.count", bump))[0] == 12
    assert (await other.update("7004.count", bump))[0] == 13


def ref(n: int) -> MediaRef:
    return MediaRef(object_name=f"inputs/flow/{n}", content_type="image/png", size_bytes=10)


async def test_flow_inputs_add_atomically_and_refuse_a_fifth(js: JetStreamContext) -> None:
    inputs = FlowInputs(await open_gateway_bucket(js, 3600), wait_s=2)
    await inputs.expect("f1", 3)
    totals = await asyncio.gather(*(inputs.settle("f1", [ref(n)], arrived=1, max_count=4) for n in range(3)))
    assert sorted(totals) == [1, 2, 3]
    with pytest.raises(TooManyImages):
        await inputs.settle("f1", [ref(8), ref(9)], arrived=0, max_count=4)
    collected = await inputs.collected("f1")
    assert sorted(r.object_name for r in collected) == [f"inputs/flow/{n}" for n in range(3)]


async def test_flow_inputs_wait_for_pending_uploads(js: JetStreamContext) -> None:
    inputs = FlowInputs(await open_gateway_bucket(js, 3600), wait_s=5, poll_s=0.02)
    await inputs.expect("f2")

    async def late_upload() -> None:
        await asyncio.sleep(0.3)
        await inputs.settle("f2", [ref(1)], arrived=1, max_count=4)

    task = asyncio.create_task(late_upload())
    assert [r.object_name for r in await inputs.collected("f2")] == ["inputs/flow/1"]
    await task


async def test_album_parts_on_two_collectors_are_claimed_once(js: JetStreamContext) -> None:
    collectors = [
        AlbumCollector(await js.key_value(subjects.ALBUMS_BUCKET), debounce_s=0.3) for _ in range(2)
    ]
    album = AlbumCollector.key(42, "9001")

    async def part(n: int) -> list[AlbumPart] | None:
        collector = collectors[n % 2]
        assert await collector.announce(album, 100 + n)
        await asyncio.sleep(0.05 * n)  # downloads take different times
        return await collector.fill(
            album, AlbumPart(100 + n, ref=ref(n), caption="вместе" if n == 0 else None)
        )

    outcomes = await asyncio.gather(*(part(n) for n in range(3)))
    claimed = [o for o in outcomes if o is not None]
    assert len(claimed) == 1
    assert [p.message_id for p in claimed[0]] == [100, 101, 102]
    assert claimed[0][0].caption == "вместе"
    assert not await collectors[0].announce(album, 999)  # a straggler sees the claimed album


async def test_delivery_claims_and_update_dedup(js: JetStreamContext) -> None:
    kv = await open_gateway_bucket(js, 3600)
    marks = DeliveryMarks(kv, stale_after_s=0.5)
    assert await marks.claim("job1") is Claim.granted
    assert await marks.claim("job1") is Claim.busy
    await asyncio.sleep(0.6)
    assert await marks.claim("job1") is Claim.granted  # the first sender died: take over
    await marks.done("job1")
    assert await marks.claim("job1") is Claim.done
    await marks.release("job1")
    assert await marks.claim("job1") is Claim.granted
    seen = SeenUpdates(kv, bot_id=123)
    results = await asyncio.gather(*(seen.first_time(55) for _ in range(5)))
    assert results.count(True) == 1


async def test_waiting_order_is_taken_by_one_press_on_any_replica(js: JetStreamContext) -> None:
    catalog = default_catalog()
    claims_kv = await open_gateway_bucket(js, 3600)
    replicas = [
        (KvStorage(await js.key_value(subjects.FSM_BUCKET)), LaunchClaims(claims_kv)) for _ in range(2)
    ]
    order = Order(
        mode=Mode.create,
        model=catalog.by_key("flux"),
        user_id=42,
        chat_id=-1001234,
        prompt="маяк",
        size=ImageSize(width=1024, height=768),
        inputs=(ref(1),),
    )
    flow = await begin(
        FSMContext(replicas[0][0], key()), ConfirmFlow.launch, OrderDraft(flow=new_flow(), order=order)
    )
    presses = [
        take(FSMContext(storage, key()), catalog, claims, 42, flow) for storage, claims in replicas * 2
    ]
    taken = [found for found in await asyncio.gather(*presses) if found is not None]
    assert taken == [order]  # one press of four, the order intact after its trip through KV
    assert await replicas[1][0].get_state(key()) is None
