"""Typed drafts over the real FSM storage (NATS KV): read, update, and what counts as stale."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import nats
import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from gateway_bot.callbacks import ModelCb, RetouchKind
from gateway_bot.filters import SameFlow
from gateway_bot.flows.drafts import (
    CreateDraft,
    CreateWithFormat,
    CreateWithModel,
    Draft,
    EditDraft,
    OrderDraft,
    RetouchDraft,
    RetouchReady,
    StaleDraft,
    new_flow,
    read,
    update,
)
from gateway_bot.flows.steps import begin
from gateway_bot.states import CreateFlow, EditFlow, RetouchFlow
from gateway_bot.storage.fsm import KvStorage
from medialab_contracts import subjects
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_runtime.provisioning import ensure_layout

_users = itertools.count(1)


@pytest.fixture
async def state(nats_url: str) -> AsyncIterator[FSMContext]:
    """One conversation's FSM context over the shared KV bucket (a fresh user per test)."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    storage = KvStorage(await js.key_value(subjects.FSM_BUCKET))
    user = next(_users)
    yield FSMContext(storage, StorageKey(bot_id=7, chat_id=user, user_id=user))
    await nc.close()


async def test_a_draft_begun_is_read_back_typed_and_grows_step_by_step(state: FSMContext) -> None:
    flow = await begin(state, CreateFlow.model, CreateDraft(flow=new_flow(), prompt="маяк"))
    draft = await read(state, CreateDraft)
    assert draft == CreateDraft(flow=flow, prompt="маяк")
    with pytest.raises(StaleDraft):
        await read(state, CreateWithModel)  # no model chosen yet

    chosen = await update(state, draft, CreateWithModel, model="flux")
    assert chosen == CreateWithModel(flow=flow, prompt="маяк", model="flux")
    await update(state, chosen, CreateWithModel, format="square")
    assert await read(state, CreateWithFormat) == CreateWithFormat(
        flow=flow, prompt="маяк", model="flux", format="square"
    )
    assert await state.get_data() == {
        "flow": flow,
        "prompt": "маяк",
        "model": "flux",
        "format": "square",
        "images": 1,
    }


async def test_nested_models_and_enums_travel_as_json(state: FSMContext) -> None:
    image = MediaRef(object_name="inputs/flow/1", content_type="image/png", size_bytes=10)
    await begin(state, RetouchFlow.image, RetouchDraft(flow=new_flow()))
    draft = await update(state, await read(state, RetouchDraft), RetouchDraft, image=image)
    await update(state, draft, RetouchDraft, kind=RetouchKind.enhance)
    data = await state.get_data()
    assert data["image"] == image.model_dump(mode="json") and data["kind"] == RetouchKind.enhance.value
    ready = await read(state, RetouchReady)
    assert (ready.image, ready.kind) == (image, RetouchKind.enhance)


async def test_an_update_writes_only_its_fields_so_a_concurrent_one_is_kept(state: FSMContext) -> None:
    await begin(state, EditFlow.model, EditDraft(flow=new_flow(), mode=Mode.merge))
    draft = await read(state, EditDraft)
    await asyncio.gather(
        update(state, draft, EditDraft, images=4), update(state, draft, EditDraft, format="square")
    )
    stored = await read(state, EditDraft)
    assert (stored.mode, stored.images, stored.format) == (Mode.merge, 4, "square")


async def test_no_draft_is_stale(state: FSMContext) -> None:
    with pytest.raises(StaleDraft):
        await read(state, Draft)
    await begin(state, CreateFlow.model, CreateDraft(flow=new_flow()))
    await state.clear()  # cancelled, finished or failed
    with pytest.raises(StaleDraft):
        await read(state, CreateDraft)


@pytest.mark.parametrize(
    ("stored", "kind"),
    [
        ({"flow": "ab12cd34", "mode": "merge"}, CreateWithModel),  # another flow's draft
        ({"flow": "ab12cd34", "mode": "paint"}, EditDraft),  # a mode this gateway does not know
        ({"flow": "ab12cd34", "order": {"mode": "create"}}, OrderDraft),  # an older order's shape
        ({"flow": "ab12cd34", "image": {"object_name": "a b"}, "kind": "soft"}, RetouchReady),
        ({"mode": "edit", "model": "nb"}, EditDraft),  # no flow id
    ],
)
async def test_a_draft_of_another_shape_is_stale(
    state: FSMContext, stored: dict[str, object], kind: type[Draft]
) -> None:
    await state.set_data(stored)
    with pytest.raises(StaleDraft):
        await read(state, kind)


async def test_a_button_counts_only_with_its_flows_draft(state: FSMContext) -> None:
    same_flow = SameFlow(CreateDraft)
    flow = await begin(state, CreateFlow.model, CreateDraft(flow=new_flow()))
    found = await same_flow(None, state, ModelCb(flow=flow, model="flux"))
    assert found == {"draft": CreateDraft(flow=flow)}
    assert await same_flow(None, state, ModelCb(flow=new_flow(), model="flux")) is False  # an older one
    assert await same_flow(None, state, None) is False  # no flow id on it
    await state.set_data({"flow": flow, "images": "many"})  # the right flow id, a broken draft
    assert await same_flow(None, state, ModelCb(flow=flow, model="flux")) is False
    await state.clear()
    assert await same_flow(None, state, ModelCb(flow=flow, model="flux")) is False
