"""Idempotent creation of the JetStream layout (ARCHITECTURE.md "NATS layout").

Every service calls ``ensure_layout`` at start for its part, so any of them can be the first one up:
it creates what is missing and keeps what exists. Only the admin (``service`` None: provisioning and
operators' tools) brings an existing stream, bucket or object store to the config — its caps, TTLs and
``LayoutConfig.replicas`` copies (NATS_REPLICAS; JetStream moves the data) — with a stream update.
A service's NATS user may not update streams: an update can add a republish or a subject transform,
with which the server itself would copy messages onto any subject (a top-up to ``billing.topup``, a
job to ``jobs.>``) past the publish permissions of the user who asked for it.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from medialab_contracts import subjects
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, Error

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1024 * 1024
DEDUP_WINDOW_S = 3600.0
GIB = 1024 * 1024 * 1024


_RUNNER_LAYOUT = frozenset(
    {subjects.JOBS_STREAM, subjects.EVENTS_STREAM, subjects.ADVISORIES_STREAM, subjects.JOB_STATE_BUCKET}
)
# What each service creates at start: exactly what its NATS user may create (deploy/nats/permissions.yaml,
# checked by tests/test_deploy_nats.py). A name not listed here (operators' tools, the test kit's admin
# client) provisions everything.
SERVICE_LAYOUT: dict[str, frozenset[str]] = {
    # jobstate: ❌ Отменить marks a job there (billing.cancel), where runners look before they start it.
    "billing": frozenset({subjects.JOBS_STREAM, subjects.EVENTS_STREAM, subjects.JOB_STATE_BUCKET}),
    # publishes a credited top-up's notice on EVENTS
    "payments": frozenset({subjects.EVENTS_STREAM}),
    "gateway-bot": frozenset(
        {
            subjects.EVENTS_STREAM,
            subjects.FSM_BUCKET,
            subjects.ALBUMS_BUCKET,
            subjects.TELEGRAM_LIMITS_BUCKET,
            subjects.GATEWAY_BUCKET,
            subjects.MEDIA_BUCKET,
            subjects.UPLOADS_BUCKET,
            subjects.WORKS_BUCKET,
            subjects.KEPT_BUCKET,
            subjects.LOCALES_BUCKET,
        }
    ),
    "fal-runner": _RUNNER_LAYOUT | {subjects.SLOTS_BUCKET, subjects.MEDIA_BUCKET},
    "wavespeed-runner": _RUNNER_LAYOUT | {subjects.SLOTS_BUCKET, subjects.MEDIA_BUCKET},
    "text-render": _RUNNER_LAYOUT | {subjects.MEDIA_BUCKET},
    "prompt-llm": _RUNNER_LAYOUT | {subjects.LLM_CACHE_BUCKET},
}


@dataclass(frozen=True)
class LayoutConfig:
    """Retention and size caps of the layout (issue 17 item 4: storage bounded).

    Streams and object stores are capped in bytes; a full JOBS stream or object store refuses new
    writes (discard new: a job is never dropped, the caller sees the error), a full EVENTS or
    ADVISORIES stream drops its oldest messages, long consumed.
    """

    media_ttl_s: float = 7 * 24 * 3600
    media_max_bytes: int = 4 * GIB
    uploads_ttl_s: float = 3600
    uploads_max_bytes: int = 1 * GIB
    # «🖼 Мои работы»: delivered results and their records, kept 30 days (issue 21).
    works_ttl_s: float = 30 * 24 * 3600
    works_max_bytes: int = 8 * GIB
    stream_max_bytes: int = GIB // 4
    events_max_age_s: float = 7 * 24 * 3600
    fsm_ttl_s: float = 7 * 24 * 3600
    albums_ttl_s: float = 600
    slots_ttl_s: float = 30
    job_state_ttl_s: float = 3 * 24 * 3600
    llm_cache_ttl_s: float = 24 * 3600
    telegram_limits_ttl_s: float = 120
    # Copies of every stream, bucket and object store: 3 on a three-node cluster (one node may be lost),
    # 1 on a single nats-server (which refuses more).
    replicas: int = 1


class LayoutError(RuntimeError):
    """A part of the layout could not be created or brought to its config (the message says which)."""


def layout_streams(service: str | None = None) -> list[str]:
    """The JetStream streams behind a service's part of the layout (all of it for ``None``): what its
    placement report covers. Buckets and object stores are the streams ``KV_<name>`` / ``OBJ_<name>``."""
    cfg = LayoutConfig()
    wanted = SERVICE_LAYOUT.get(service or "")
    names = [s.name for s in stream_configs(cfg) if s.name and (wanted is None or s.name in wanted)]
    names += [f"KV_{kv.bucket}" for kv in kv_configs(cfg) if wanted is None or kv.bucket in wanted]
    names += [f"OBJ_{o.bucket}" for o in object_store_configs(cfg) if wanted is None or o.bucket in wanted]
    return names


def stream_configs(cfg: LayoutConfig) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=subjects.JOBS_STREAM,
            subjects=[subjects.JOBS_SUBJECTS],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=DEDUP_WINDOW_S,
            max_msg_size=MAX_MESSAGE_BYTES,
            max_bytes=cfg.stream_max_bytes,
            discard=DiscardPolicy.NEW,
            num_replicas=cfg.replicas,
        ),
        StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=[subjects.EVENTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=cfg.events_max_age_s,
            duplicate_window=DEDUP_WINDOW_S,
            max_msg_size=MAX_MESSAGE_BYTES,
            max_bytes=cfg.stream_max_bytes,
            num_replicas=cfg.replicas,
        ),
        StreamConfig(
            name=subjects.ADVISORIES_STREAM,
            subjects=[subjects.MAX_DELIVERIES_ADVISORY],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=cfg.events_max_age_s,
            max_bytes=cfg.stream_max_bytes,
            num_replicas=cfg.replicas,
        ),
    ]


def object_store_configs(cfg: LayoutConfig) -> list[ObjectStoreConfig]:
    return [
        ObjectStoreConfig(
            bucket=subjects.MEDIA_BUCKET,
            ttl=cfg.media_ttl_s,
            max_bytes=cfg.media_max_bytes,
            storage=StorageType.FILE,
            replicas=cfg.replicas,
        ),
        ObjectStoreConfig(
            bucket=subjects.UPLOADS_BUCKET,
            ttl=cfg.uploads_ttl_s,
            max_bytes=cfg.uploads_max_bytes,
            storage=StorageType.FILE,
            replicas=cfg.replicas,
        ),
        ObjectStoreConfig(
            bucket=subjects.KEPT_BUCKET,
            ttl=cfg.works_ttl_s,
            max_bytes=cfg.works_max_bytes,
            storage=StorageType.FILE,
            replicas=cfg.replicas,
        ),
    ]


def kv_configs(cfg: LayoutConfig) -> list[KeyValueConfig]:
    file, memory = StorageType.FILE, StorageType.MEMORY
    return [
        KeyValueConfig(bucket=subjects.FSM_BUCKET, ttl=cfg.fsm_ttl_s, storage=file, replicas=cfg.replicas),
        KeyValueConfig(
            bucket=subjects.ALBUMS_BUCKET, ttl=cfg.albums_ttl_s, storage=file, replicas=cfg.replicas
        ),
        KeyValueConfig(
            bucket=subjects.SLOTS_BUCKET, ttl=cfg.slots_ttl_s, storage=file, replicas=cfg.replicas
        ),
        KeyValueConfig(
            bucket=subjects.JOB_STATE_BUCKET, ttl=cfg.job_state_ttl_s, storage=file, replicas=cfg.replicas
        ),
        KeyValueConfig(
            bucket=subjects.WORKS_BUCKET, ttl=cfg.works_ttl_s, storage=file, replicas=cfg.replicas
        ),
        # A user's language stays until they change it: no TTL.
        KeyValueConfig(bucket=subjects.LOCALES_BUCKET, storage=file, replicas=cfg.replicas),
        KeyValueConfig(
            bucket=subjects.LLM_CACHE_BUCKET, ttl=cfg.llm_cache_ttl_s, storage=file, replicas=cfg.replicas
        ),
        # The gateway's shared records (status messages, delivery claims, launch claims) live as long
        # as the events they refer to.
        KeyValueConfig(
            bucket=subjects.GATEWAY_BUCKET, ttl=cfg.events_max_age_s, storage=file, replicas=cfg.replicas
        ),
        KeyValueConfig(
            bucket=subjects.TELEGRAM_LIMITS_BUCKET,
            ttl=cfg.telegram_limits_ttl_s,
            storage=memory,
            replicas=cfg.replicas,
        ),
    ]


def _refused(what: str, replicas: int, error: Error) -> LayoutError:
    hint = " (a single nats-server holds one copy: NATS_REPLICAS=1)" if replicas > 1 else ""
    return LayoutError(f"JetStream refused {what} with {replicas} replica(s): {error.description}{hint}")


async def _ensure_stream(js: JetStreamContext, config: StreamConfig, *, admin: bool) -> None:
    try:
        try:
            await js.add_stream(config)
        except BadRequestError:
            if not admin:
                log.info("stream %s exists with another config; kept (provisioning updates it)", config.name)
                return
            # Name in use with another config (another cap, another replica count): bring it to ours;
            # retention cannot change, that one raises.
            await js.update_stream(config)
            log.info("stream %s updated (replicas %d)", config.name, config.num_replicas)
    except Error as error:
        raise _refused(f"stream {config.name}", config.num_replicas or 1, error) from error


async def _scale(js: JetStreamContext, stream: str, replicas: int) -> None:
    """Bring an existing bucket's or object store's stream to ``replicas``; nothing else of its config
    changes (a bucket keeps the TTL it was created with)."""
    current = (await js.stream_info(stream)).config
    if current.num_replicas != replicas:
        await js.update_stream(dataclasses.replace(current, num_replicas=replicas))
        log.info("stream %s scaled from %s to %d replicas", stream, current.num_replicas, replicas)


async def _ensure_key_value(js: JetStreamContext, config: KeyValueConfig, *, admin: bool) -> None:
    try:
        try:
            await js.create_key_value(config)
        except BadRequestError:
            log.info(
                "kv bucket %s exists with another config; keeping it but its replica count", config.bucket
            )
            if admin:
                await _scale(js, f"KV_{config.bucket}", config.replicas)
    except Error as error:
        raise _refused(f"kv bucket {config.bucket}", config.replicas, error) from error


async def _ensure_object_store(js: JetStreamContext, config: ObjectStoreConfig, *, admin: bool) -> None:
    assert config.bucket is not None  # every config of object_store_configs names its bucket
    try:
        try:
            await js.create_object_store(config.bucket, config)
        except BadRequestError:
            if not admin:
                log.info("object store %s exists with another config; kept", config.bucket)
                return
            # Created before with another TTL, cap or replica count: bring its stream to ours (nats-py
            # has no update call).
            stream = f"OBJ_{config.bucket}"
            current = (await js.stream_info(stream)).config
            await js.update_stream(
                dataclasses.replace(
                    current, max_age=config.ttl, max_bytes=config.max_bytes, num_replicas=config.replicas
                )
            )
            log.info("object store %s updated", config.bucket)
    except Error as error:
        raise _refused(f"object store {config.bucket}", config.replicas, error) from error


async def ensure_durable_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create a durable consumer; one that exists with another config is kept (a rolling update may
    run both versions, and recreating it would drop its pending acks)."""
    try:
        await js.add_consumer(stream, config)
    except BadRequestError:
        log.warning("consumer %s exists with another config; keeping it", config.durable_name)


async def ensure_layout(
    js: JetStreamContext, cfg: LayoutConfig | None = None, service: str | None = None
) -> None:
    """Create the layout and bring it to ``cfg``; with ``service``, create only what is missing of
    the part that service uses (``SERVICE_LAYOUT``) and keep what exists."""
    cfg = cfg or LayoutConfig()
    admin = service is None
    wanted = SERVICE_LAYOUT.get(service or "")
    for stream in stream_configs(cfg):
        if wanted is None or stream.name in wanted:
            await _ensure_stream(js, stream, admin=admin)
    for kv in kv_configs(cfg):
        if wanted is None or kv.bucket in wanted:
            await _ensure_key_value(js, kv, admin=admin)
    for store in object_store_configs(cfg):
        if wanted is None or store.bucket in wanted:
            await _ensure_object_store(js, store, admin=admin)
