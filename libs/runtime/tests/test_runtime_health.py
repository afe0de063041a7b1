import httpx
from medialab_runtime.health import HealthServer
from medialab_runtime.metrics import BUILD_INFO
from prometheus_client.parser import text_string_to_metric_families


async def test_health_ready_and_metrics_endpoints() -> None:
    ready = {"nats": False}
    server = HealthServer("probe", "127.0.0.1", 0)
    server.add_check("nats", lambda: ready["nats"])
    BUILD_INFO.labels("probe", "1.0").set(1)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"] == {"nats": False}
            ready["nats"] = True
            assert (await client.get("/readyz")).status_code == 200
            metrics = await client.get("/metrics")
            families = {f.name for f in text_string_to_metric_families(metrics.text)}
            assert "medialab_build_info" in families
    finally:
        await server.stop()
