import nats
from medialab_contracts import subjects
from medialab_runtime.provisioning import LayoutConfig, ensure_layout


async def test_layout_is_created_once_and_reapplied_idempotently(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await ensure_layout(js)
        await ensure_layout(js, LayoutConfig(events_max_age_s=3600))
        jobs = await js.stream_info(subjects.JOBS_STREAM)
        events = await js.stream_info(subjects.EVENTS_STREAM)
        assert jobs.config.retention == "workqueue"
        assert jobs.config.storage == "file"
        assert events.config.max_age == 3600
        for bucket in (
            subjects.FSM_BUCKET,
            subjects.ALBUMS_BUCKET,
            subjects.SLOTS_BUCKET,
            subjects.JOB_STATE_BUCKET,
            subjects.LLM_CACHE_BUCKET,
        ):
            kv = await js.key_value(bucket)
            await kv.put("probe", b"1")
        store = await js.object_store(subjects.MEDIA_BUCKET)
        await store.put("probe", b"bytes")
        assert (await store.get("probe")).data == b"bytes"
    finally:
        await nc.close()
