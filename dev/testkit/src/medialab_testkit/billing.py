"""Helpers of the billing tests: billing in-process on the real nats-server and PostgreSQL, requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import nats
from billing.app import setup
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceView, EnsureUserRequest, ReserveRequest
from medialab_contracts.errors import ErrorReply
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.ids import new_job_id
from medialab_contracts.modes import Mode
from medialab_contracts.subjects import event_msg_id
from medialab_devstack.nats_server import admin_url, service_settings
from medialab_runtime.health import HealthServer
from medialab_runtime.nats_conn import connect
from medialab_runtime.provisioning import ensure_layout
from medialab_runtime.rpc import call
from medialab_runtime.service import ServiceContext
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.micro.request import ERROR_CODE_HEADER
from pydantic import BaseModel

ADMIN_ID = 777
Rep = TypeVar("Rep", bound=BaseModel)


@dataclass
class RunningBilling:
    ctx: ServiceContext
    client: Client

    @property
    def health_port(self) -> int:
        return self.ctx.health.port

    async def call(self, subject: str, request: BaseModel, reply_type: type[Rep], timeout: float = 10) -> Rep:
        return await call(self.client, subject, request, reply_type, timeout=timeout)


def make_settings(nats_url: str, database_url: str, **overrides: Any) -> BillingSettings:
    values: dict[str, Any] = {
        **service_settings(nats_url, "billing"),
        "database_url": database_url,
        "http_port": 0,
        "admin_ids": [ADMIN_ID],
        "pool_max_size": 8,
        "sweeper_interval_s": 0.2,
        "consistency_interval_s": 0.5,
        "saga_retry_delay_s": 0.2,
        "saga_fetch_timeout_s": 0.2,
        "shutdown_grace_s": 2,
        # Tests reserve many jobs of one user at once; the quota itself is tested on its own.
        "max_jobs_in_flight": 10_000,
    }
    values.update(overrides)
    return BillingSettings(**values)


@asynccontextmanager
async def running_billing(settings: BillingSettings) -> AsyncIterator[RunningBilling]:
    """What ``run_service`` does, minus signal handlers and logging setup (pytest owns those)."""
    stopping = asyncio.Event()
    async with AsyncExitStack() as stack:
        health = HealthServer("billing", settings.http_host, 0)
        await health.start()
        stack.push_async_callback(health.stop)
        password = settings.nats_password.get_secret_value() if settings.nats_password else None
        nc = await connect(settings.nats_url, "billing", user=settings.nats_user, password=password)
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        await ensure_layout(js, service="billing")
        ctx = ServiceContext("billing", settings, nc, js, health, stopping, stack)
        stack.push_async_callback(ctx._cancel_tasks)
        await setup(ctx)
        client = await nats.connect(admin_url(settings.nats_url))
        stack.push_async_callback(client.close)
        stack.callback(stopping.set)  # first on the way out, as SIGTERM would
        yield RunningBilling(ctx, client)


def reserve_request(user_id: int, price: int, job_id: str | None = None, **extra: Any) -> ReserveRequest:
    return ReserveRequest(
        job_id=job_id or new_job_id(),
        user_id=user_id,
        price=price,
        mode=extra.pop("mode", Mode.create),
        model_id=extra.pop("model_id", "fal-ai/nano-banana"),
        **extra,
    )


async def new_user(running: RunningBilling, user_id: int) -> BalanceView:
    return await running.call(subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=user_id), BalanceView)


async def table_counts(database_url: str) -> dict[str, int]:
    """Row counts of every billing table: "nothing changed" means these did not move."""
    connection = await asyncpg.connect(database_url)
    try:
        return {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")
            for table in ("users", "accounts", "operations", "ledger")
        } | {"balances": await connection.fetchval("SELECT coalesce(sum(balance), 0) FROM accounts")}
    finally:
        await connection.close()


async def raw_error(client: Client, subject: str, data: bytes) -> ErrorReply:
    """Send raw bytes and return the typed error the service answered with (fails on a success)."""
    msg = await client.request(subject, data, timeout=10)
    assert msg.headers and ERROR_CODE_HEADER in msg.headers, msg.data
    return ErrorReply.model_validate_json(msg.data)


async def operation_row(database_url: str, job_id: str) -> asyncpg.Record | None:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchrow("SELECT * FROM operations WHERE job_id = $1", job_id)
    finally:
        await connection.close()


async def ledger_kinds(database_url: str, job_id: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT kind FROM ledger WHERE job_id = $1 ORDER BY id", job_id)
        return [r["kind"] for r in rows]
    finally:
        await connection.close()


def succeeded(req: ReserveRequest) -> JobSucceeded:
    return JobSucceeded(job_id=req.job_id, user_id=req.user_id, chat_id=req.user_id, mode=req.mode)


def failed(req: ReserveRequest, reason: FailureReason = FailureReason.provider_error) -> JobFailed:
    return JobFailed(
        job_id=req.job_id, user_id=req.user_id, chat_id=req.user_id, mode=req.mode, reason=reason
    )


async def publish_event(js: JetStreamContext, event: JobSucceeded | JobFailed, dedup: bool = True) -> None:
    """Publish a final job event; ``dedup=False`` makes a copy JetStream keeps (a redelivery look-alike)."""
    headers = {"Nats-Msg-Id": event_msg_id(event.job_id, event.kind)} if dedup else None
    await js.publish(event.subject, event.model_dump_json().encode(), headers=headers)
