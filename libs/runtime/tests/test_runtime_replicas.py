"""NATS_REPLICAS: every stream, bucket and object store gets that many copies on a real three-node
cluster, existing ones are scaled up and down to it, placement is reported, and production refuses
fewer than three copies."""

from __future__ import annotations

import asyncio
import time

import httpx
import nats
import pytest
from medialab_devstack.nats_server import NatsCluster
from medialab_runtime.health import HealthServer
from medialab_runtime.nats_conn import server_urls
from medialab_runtime.placement import PlacementReport
from medialab_runtime.provisioning import LayoutConfig, LayoutError, ensure_layout, layout_streams
from medialab_runtime.service import ServiceContext, run_service
from medialab_runtime.settings import ServiceSettings, UnsafeSettingsError
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

ALL_STREAMS = layout_streams()


async def replica_counts(js: JetStreamContext) -> dict[str, int]:
    return {name: (await js.stream_info(name)).config.num_replicas for name in ALL_STREAMS}


async def wait_placed(report: PlacementReport, replicas: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        placed = await report.refresh()
        if all(p.current == replicas and p.leader for p in placed.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not placed on {replicas}: {placed}")
        await asyncio.sleep(0.2)


def test_layout_covers_jobs_events_advisories_buckets_and_object_stores() -> None:
    assert {"JOBS", "EVENTS", "ADVISORIES", "KV_fsm", "KV_slots", "KV_works", "OBJ_media", "OBJ_kept"} <= set(
        ALL_STREAMS
    )
    assert layout_streams("billing") == ["JOBS", "EVENTS", "KV_jobstate"]


async def test_replicas_setting_reaches_every_stream_and_scales_existing_ones(
    nats_cluster: NatsCluster,
) -> None:
    nc = await nats.connect(servers=server_urls(nats_cluster.url))
    # A new cluster's first stream waits for its meta leader: seconds on a busy machine.
    js = nc.jetstream(timeout=30)
    report = PlacementReport(js, "probe", ALL_STREAMS)
    try:
        await ensure_layout(js, LayoutConfig(replicas=1))
        assert set((await replica_counts(js)).values()) == {1}
        # A deployment moving to the cluster: the same layout with three copies scales every stream up.
        await ensure_layout(js, LayoutConfig(replicas=3, slots_ttl_s=5))
        assert set((await replica_counts(js)).values()) == {3}
        await wait_placed(report, 3)
        # A bucket keeps the TTL it was created with; only its copies changed.
        assert (await js.stream_info("KV_slots")).config.max_age == LayoutConfig().slots_ttl_s
        # ... and back down.
        await ensure_layout(js, LayoutConfig(replicas=1))
        assert set((await replica_counts(js)).values()) == {1}
        await wait_placed(report, 1)
    finally:
        await nc.close()


async def test_readyz_reports_leader_and_current_copies(nats_cluster: NatsCluster) -> None:
    nc = await nats.connect(servers=server_urls(nats_cluster.url))
    js = nc.jetstream()
    health = HealthServer("placement-probe", "127.0.0.1", 0)
    report = PlacementReport(js, "placement-probe", layout_streams("billing"))
    health.add_check("nats", lambda: nc.is_connected)
    health.add_detail("jetstream", report.details)
    await health.start()
    try:
        await ensure_layout(js, LayoutConfig(replicas=3), "billing")
        await wait_placed(report, 3)
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"http://127.0.0.1:{health.port}/readyz")).json()
        jobs = body["details"]["jetstream"]["JOBS"]
        assert body["ready"] is True
        assert jobs["replicas"] == 3 and jobs["current"] == 3 and jobs["leader"] in {"n1", "n2", "n3"}
        labels = {"service": "placement-probe", "stream": "JOBS"}
        assert REGISTRY.get_sample_value("medialab_jetstream_replicas_current", labels) == 3

        # The leader's node dies: a new leader is elected and one copy is missing until it returns.
        nats_cluster.node(jobs["leader"]).kill()
        deadline = time.monotonic() + 30
        while True:
            placed = (await report.refresh())["JOBS"]
            if placed.leader not in (None, jobs["leader"]) and placed.current == 2:
                break
            assert time.monotonic() < deadline, placed
            await asyncio.sleep(0.2)
        assert placed.lagging == [jobs["leader"]]
        assert REGISTRY.get_sample_value("medialab_jetstream_replicas_current", labels) == 2
    finally:
        await health.stop()
        await nc.close()


async def test_more_copies_than_a_single_server_holds_is_a_clear_error(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        with pytest.raises(LayoutError, match="NATS_REPLICAS=1"):
            await ensure_layout(nc.jetstream(), LayoutConfig(replicas=3))
    finally:
        await nc.close()


def test_production_refuses_fewer_than_three_copies_unless_told() -> None:
    ServiceSettings(environment="development", nats_replicas=1).check_production()
    ServiceSettings(environment="production", nats_replicas=3).check_production()
    ServiceSettings(environment="production", nats_replicas=1, allow_few_replicas=True).check_production()
    with pytest.raises(UnsafeSettingsError, match=r"NATS_REPLICAS=1.*ALLOW_FEW_REPLICAS=true"):
        ServiceSettings(environment="production", nats_replicas=1).check_production()


def test_settings_read_replicas_and_environment_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_REPLICAS", "3")
    monkeypatch.setenv("ENVIRONMENT", "production")
    settings = ServiceSettings()
    assert settings.layout().replicas == 3 and settings.environment == "production"


def test_nats_url_may_list_every_node_of_a_cluster() -> None:
    assert server_urls("nats://a:4222, nats://b:4222,nats://c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    with pytest.raises(ValueError, match="NATS_URL is empty"):
        server_urls(" , ")


async def test_a_service_in_production_with_one_copy_does_not_start() -> None:
    async def setup(_ctx: ServiceContext) -> None:
        raise AssertionError("setup must not run")

    settings = ServiceSettings(environment="production", nats_replicas=1, nats_url="nats://127.0.0.1:1")
    with pytest.raises(SystemExit, match="probe: ENVIRONMENT=production with NATS_REPLICAS=1"):
        await run_service("probe", settings, setup)
