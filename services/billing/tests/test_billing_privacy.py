"""``billing.forget`` (``/delete_me``) and the retention sweep drop content, never money.

The user's stored jobs (prompt, input names) and Telegram names go; every ledger row, amount and
balance stays, so the audit sums hold. Another user's rows are untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import nats
import pytest
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceView,
    EnsureUserRequest,
    ForgetReply,
    ForgetRequest,
    OperationView,
    ReleaseRequest,
    ReserveReply,
    ReserveRequest,
    SettleRequest,
)
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import Conflict
from medialab_contracts.jobs import JobRequest
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode, Runner
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.billing import running_billing
from medialab_testkit.waiting import eventually

PROMPT = "the red car of my neighbour at 12 Baker Street"


def job_with_input(user_id: int, name: str) -> JobRequest:
    ref = MediaRef(object_name=name, content_type="image/png", size_bytes=10)
    return default_catalog().by_key("flux").job(Mode.create, user_id, user_id, prompt=PROMPT, inputs=[ref])


@pytest.fixture
async def jobs_subject(nats_url: str) -> AsyncIterator[None]:
    """Billing queues each reserved job on ``jobs.fal.create``; no runner takes them here."""
    subject = subjects.job_subject(Runner.fal, Mode.create)
    nc = await nats.connect(nats_url)
    await ensure_layout(nc.jetstream())
    yield
    await nc.jetstream().purge_stream(subjects.JOBS_STREAM, subject=subject)
    await nc.close()


async def money(database_url: str, user_id: int) -> tuple[object, ...]:
    conn = await asyncpg.connect(database_url)
    try:
        ledger = await conn.fetch(
            "SELECT kind, delta_balance, delta_reserved, job_id FROM ledger WHERE user_id = $1 ORDER BY id",
            user_id,
        )
        account = await conn.fetchrow("SELECT balance, reserved FROM accounts WHERE user_id = $1", user_id)
        ops = await conn.fetch(
            "SELECT job_id, mode, model_id, price, status FROM operations WHERE user_id = $1 ORDER BY job_id",
            user_id,
        )
        return tuple(map(tuple, ledger)), tuple(account or ()), tuple(map(tuple, ops))
    finally:
        await conn.close()


async def content(database_url: str, user_id: int) -> tuple[list[object], object]:
    conn = await asyncpg.connect(database_url)
    try:
        jobs = [r["job"] for r in await conn.fetch("SELECT job FROM operations WHERE user_id = $1", user_id)]
        names = await conn.fetchrow("SELECT username, first_name FROM users WHERE user_id = $1", user_id)
        return jobs, tuple(names or ())
    finally:
        await conn.close()


async def test_forget_drops_prompts_inputs_and_names_and_keeps_every_kopeck(
    settings_factory: Callable[..., BillingSettings], database_url: str, jobs_subject: None
) -> None:
    async with running_billing(settings_factory()) as billing:
        for user in (61, 62):
            req = EnsureUserRequest(user_id=user, username=f"u{user}", first_name="Анна")
            await billing.call(subjects.BILLING_ENSURE_USER, req, BalanceView)
        charged, released, others = (
            job_with_input(61, "inputs/a/1"),
            job_with_input(61, "inputs/b/2"),
            job_with_input(62, "inputs/c/3"),
        )
        for job in (charged, released, others):
            await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=charged.job_id), OperationView)
        await billing.call(subjects.BILLING_RELEASE, ReleaseRequest(job_id=released.job_id), OperationView)
        mine_before, others_before = await money(database_url, 61), await money(database_url, 62)
        others_content = await content(database_url, 62)

        reply = await billing.call(subjects.BILLING_FORGET, ForgetRequest(user_id=61), ForgetReply)
        assert sorted(reply.job_ids) == sorted([charged.job_id, released.job_id])
        assert sorted(reply.object_names) == ["inputs/a/1", "inputs/b/2"]
        assert reply.anonymised == 2
        jobs, names = await content(database_url, 61)
        assert jobs == [None, None] and names == (None, None)
        assert await money(database_url, 61) == mine_before
        assert await money(database_url, 62) == others_before
        assert await content(database_url, 62) == others_content and PROMPT in str(others_content[0])

        # Asked again: nothing left to drop, the job ids are still known (their results may remain).
        again = await billing.call(subjects.BILLING_FORGET, ForgetRequest(user_id=61), ForgetReply)
        assert (again.anonymised, again.object_names, sorted(again.job_ids)) == (0, [], sorted(reply.job_ids))


async def test_forget_waits_for_a_job_in_progress(
    settings_factory: Callable[..., BillingSettings], database_url: str, jobs_subject: None
) -> None:
    async with running_billing(settings_factory()) as billing:
        await billing.call(subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=63), BalanceView)
        job = job_with_input(63, "inputs/d/4")
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        with pytest.raises(Conflict):
            await billing.call(subjects.BILLING_FORGET, ForgetRequest(user_id=63), ForgetReply)
        jobs, _ = await content(database_url, 63)
        assert jobs and PROMPT in str(jobs[0])  # still needed to hand the job over


async def test_the_retention_sweep_drops_only_old_settled_jobs(
    settings_factory: Callable[..., BillingSettings], database_url: str, jobs_subject: None
) -> None:
    settings = settings_factory(retention_days=90, retention_interval_s=0.2)
    async with running_billing(settings) as billing:
        await billing.call(subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=64), BalanceView)
        old, recent, running = (job_with_input(64, f"inputs/e/{n}") for n in range(3))
        for job in (old, recent, running):
            await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        for job in (old, recent):
            await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=job.job_id), OperationView)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "UPDATE operations SET created_at = now() - interval '91 days' WHERE job_id = ANY($1)",
                [old.job_id, running.job_id],
            )
            before = await money(database_url, 64)

            async def old_dropped() -> bool:
                return await conn.fetchval("SELECT job IS NULL FROM operations WHERE job_id = $1", old.job_id)

            await eventually(old_dropped, what="the retention sweep")
            kept = await conn.fetch(
                "SELECT job_id FROM operations WHERE user_id = 64 AND job IS NOT NULL ORDER BY job_id"
            )
            assert {r["job_id"] for r in kept} == {recent.job_id, running.job_id}
            assert await money(database_url, 64) == before
        finally:
            await conn.close()
