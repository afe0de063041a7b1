"""«🖼 Мои работы» storage over a real NATS (KV ``works``, object stores ``kept`` and ``media``) and its
gallery page: owner-keyed records, newest first, copies restored into ``media``, expired entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from gateway_bot.flows.launcher import Order
from gateway_bot.handlers.works import render_page
from gateway_bot.storage.works import KeptOutput, KeptWorks, WorkGone
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.ids import new_job_id
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import ensure_layout

CATALOG = default_catalog()
TTL_S = 30 * 24 * 3600.0


@pytest.fixture
async def works(nats_url: str) -> AsyncIterator[KeptWorks]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    kv = await js.key_value(subjects.WORKS_BUCKET)
    kept = await MediaStore.open(js, bucket=subjects.KEPT_BUCKET)
    media = await MediaStore.open(js)
    yield KeptWorks(kv, kept, media, TTL_S)
    await nc.close()


def order(user_id: int, prompt: str) -> dict:
    model = CATALOG.by_key("nb")
    return Order(
        mode=Mode.create, model=model, user_id=user_id, chat_id=user_id, prompt=prompt, seed=7
    ).model_dump(mode="json")


async def keep(works: KeptWorks, user_id: int, prompt: str, at: datetime, outputs: int = 1) -> str:
    job_id = new_job_id()
    for index in range(outputs):
        name = f"results/{job_id}/{index}.png"
        await works.keep(
            user_id=user_id,
            job_id=job_id,
            created_at=at,
            order=order(user_id, prompt),
            price=800,
            seed=7,
            output=KeptOutput(
                index=index, ref=MediaRef(object_name=name, content_type="image/png"), file_id=f"F{index}"
            ),
            data=b"png-bytes",
        )
    return job_id


async def test_works_are_owned_newest_first_and_restored_into_media(works: KeptWorks) -> None:
    now = datetime.now(UTC)
    older = await keep(works, 501, "старое", now - timedelta(hours=2))
    newer = await keep(works, 501, "новое", now - timedelta(hours=1), outputs=2)
    await keep(works, 502, "чужое", now)

    listed = await works.newest_first(501)
    assert [w.job_id for w in listed] == [newer, older]
    assert [o.file_id for o in listed[0].outputs] == ["F0", "F1"]
    assert await works.get(502, newer) is None  # another user's id finds nothing

    work = listed[0]
    ref = await works.input_ref(work, 1)  # not in media: copied back from ``kept``
    assert ref.object_name == f"results/{newer}/1.png"
    with pytest.raises(WorkGone):
        await works.input_ref(work, 5)


async def test_gallery_pages_and_expired_entries(works: KeptWorks) -> None:
    now = datetime.now(UTC)
    await keep(works, 601, "закат над морем " * 10, now - timedelta(days=31))
    for n in range(3):
        await keep(works, 601, f"кот {n}", now - timedelta(minutes=10 - n))

    text, markup = await render_page(works, CATALOG, 601, 1, page_size=3)
    assert "страница 1 из 2" in text
    assert text.index("кот 2") < text.index("кот 1") < text.index("кот 0")
    assert markup is not None
    labels = [button.text for row in markup.inline_keyboard for button in row]
    assert labels[:4] == ["1 · ⬇️ Оригинал", "1 · 🔁 Повторить", "1 · ✏️ Изменить", "1 · 🔍 Улучшить"]
    assert labels[-1] == "▶"

    text, markup = await render_page(works, CATALOG, 601, 2, page_size=3)
    assert "Срок хранения истёк" in text and "…" in text  # the long prompt is cut
    assert markup is not None
    assert [button.text for row in markup.inline_keyboard for button in row] == ["◀"]  # no buttons of its own

    text, markup = await render_page(works, CATALOG, 699, 1, page_size=3)
    assert "Здесь будут ваши работы" in text and markup is None


def test_a_repeat_never_reuses_the_seed_of_its_work() -> None:
    model = CATALOG.by_key("nb")
    base = Order(mode=Mode.create, model=model, user_id=1, chat_id=1, prompt="кот", seed=3)
    seeds = {base.reseeded(3).seed for _ in range(200)}
    assert 3 not in seeds and all(seed is not None and 0 <= seed < 2**31 for seed in seeds)


async def test_a_works_inputs_are_kept_and_restored_for_a_repeat(nats_url: str, works: KeptWorks) -> None:
    nc = await nats.connect(nats_url)
    try:
        media = await MediaStore.open(nc.jetstream())
        photo = await media.put("uploads/701/" + "ab" * 16, b"photo-bytes", "image/jpeg")
        job_id = new_job_id()
        await works.keep(
            user_id=701,
            job_id=job_id,
            created_at=datetime.now(UTC),
            order=order(701, "сделай небо фиолетовым"),
            price=800,
            seed=7,
            output=KeptOutput(
                index=0,
                ref=MediaRef(object_name=f"results/{job_id}/0.png", content_type="image/png"),
                file_id="F",
            ),
            data=b"png-bytes",
            inputs=[photo],
        )
        store = await nc.jetstream().object_store(subjects.MEDIA_BUCKET)
        await store.delete(photo.object_name)  # media's week is over
        assert not await media.exists(photo.object_name)
        await works.restore([photo])
        assert await media.get(photo.object_name) == b"photo-bytes"
    finally:
        await nc.close()
