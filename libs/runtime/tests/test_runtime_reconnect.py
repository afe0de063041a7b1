"""A nats-server restart drops memory-storage buckets; a service re-creates its layout on reconnect."""

import asyncio

from medialab_contracts import subjects
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.nats_conn import ReconnectHooks, connect
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.service import _reprovision


async def test_memory_buckets_are_back_after_a_server_restart(nats_server: NatsServer) -> None:
    hooks = ReconnectHooks()
    nc = await connect(nats_server.url, "reconnect-test", hooks)
    try:
        js = nc.jetstream()
        await ensure_layout(js)
        hooks.add(lambda: _reprovision(js, LayoutConfig()))
        limits = await js.key_value(subjects.TELEGRAM_LIMITS_BUCKET)
        await limits.put("probe", b"1")

        await asyncio.to_thread(nats_server.restart)

        async def writable() -> bool:
            try:
                await limits.put("probe", b"2")
            except Exception:
                return False
            return True

        for _ in range(100):
            if await writable():
                break
            await asyncio.sleep(0.1)
        assert await writable()
        assert (await limits.get("probe")).value == b"2"
    finally:
        await nc.close()
