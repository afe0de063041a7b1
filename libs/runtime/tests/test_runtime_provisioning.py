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


async def test_streams_and_object_stores_are_capped_and_caps_reach_existing_ones(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        # A media store from before the caps: no size limit, a week's TTL.
        await js.create_object_store(subjects.MEDIA_BUCKET)
        cfg = LayoutConfig(
            media_max_bytes=64 * 1024 * 1024, uploads_ttl_s=1800, stream_max_bytes=8 * 1024 * 1024
        )
        await ensure_layout(js, cfg)
        media = (await js.stream_info(f"OBJ_{subjects.MEDIA_BUCKET}")).config
        uploads = (await js.stream_info(f"OBJ_{subjects.UPLOADS_BUCKET}")).config
        assert media.max_bytes == 64 * 1024 * 1024 and media.max_age == cfg.media_ttl_s
        assert uploads.max_age == 1800 and uploads.max_bytes == cfg.uploads_max_bytes
        for stream in (subjects.JOBS_STREAM, subjects.EVENTS_STREAM, subjects.ADVISORIES_STREAM):
            assert (await js.stream_info(stream)).config.max_bytes == 8 * 1024 * 1024
        assert (await js.stream_info(subjects.JOBS_STREAM)).config.discard == "new"  # a job is never dropped
    finally:
        await nc.close()
