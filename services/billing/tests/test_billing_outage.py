"""PostgreSQL going away at runtime: typed ``unavailable`` answers, not ready, saga waits, full recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, ReserveReply
from medialab_contracts.errors import ServiceUnavailable, UnknownUser
from medialab_testkit.billing import (
    RunningBilling,
    new_user,
    operation_row,
    publish_event,
    reserve_request,
    succeeded,
)
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.chaos


@asynccontextmanager
async def database_outage(admin_url: str, database_url: str) -> AsyncIterator[None]:
    """Refuse new connections to the test database and cut the open ones, until the block ends."""
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


async def ready(billing: RunningBilling) -> bool:
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"http://127.0.0.1:{billing.health_port}/readyz")
    return reply.status_code == 200


async def test_outage_answers_unavailable_and_recovers(
    billing: RunningBilling, postgres_admin_url: str, database_url: str
) -> None:
    await new_user(billing, 1)
    req = reserve_request(1, 800)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    assert await ready(billing)

    async with database_outage(postgres_admin_url, database_url):
        for _ in range(3):  # the first call may meet a cut connection, the next ones a refused connect
            with pytest.raises(ServiceUnavailable):
                await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
        with pytest.raises(ServiceUnavailable):
            await billing.call(subjects.BILLING_RESERVE, reserve_request(1, 100), ReserveReply)
        assert not await ready(billing)
        # The job finishes during the outage: the saga must hold on to the event.
        await publish_event(billing.client.jetstream(), succeeded(req))

        async def saga_paused() -> bool:
            info = await billing.client.jetstream().consumer_info(
                subjects.EVENTS_STREAM, subjects.BILLING_SAGA_CONSUMER
            )
            return info.delivered.stream_seq >= 1

        await eventually(saga_paused, what="saga received the event")

    await eventually(lambda: ready(billing), what="ready again")

    async def charged() -> bool:
        row = await operation_row(database_url, req.job_id)
        return row is not None and row["status"] == "CHARGED"

    await eventually(charged, timeout=15, what="settle after the outage")
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved) == (3000 - 800, 0)
    with pytest.raises(UnknownUser):
        await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=2), BalanceView)
    assert not billing.ctx.stopping.is_set()
