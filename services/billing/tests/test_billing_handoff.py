"""Billing queues each job it reserved, once; a publish that did not land is handed over later.

The gateway is simulated by what it sends: ``billing.reserve`` with the job (a published copy from
elsewhere stands for an older gateway's). The JOBS stream is checked for what landed there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import nats
import pytest
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import OperationView, ReleaseRequest, ReserveReply, ReserveRequest
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode, Runner
from medialab_contracts.signing import JOB_SIGNATURE_HEADER, job_signature_valid
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.billing import new_user, operation_row, running_billing
from medialab_testkit.waiting import eventually
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

HANDED_OVER = "medialab_billing_jobs_handed_over_total"
SIGNING_KEY = "billing-signs-jobs-" * 3


def flux_job(user_id: int) -> JobRequest:
    return (
        default_catalog().by_key("flux").job(Mode.create, user_id, user_id, prompt="a lighthouse in a storm")
    )


async def stored(js: JetStreamContext, subject: str) -> list[JobRequest]:
    info = await js.stream_info(subjects.JOBS_STREAM, subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    if count == 0:
        return []
    last = await js.get_last_msg(subjects.JOBS_STREAM, subject)
    assert count == 1, f"{count} messages on {subject}"
    return [JobRequest.model_validate_json(last.data or b"")]


def handed_over() -> float:
    return REGISTRY.get_sample_value(HANDED_OVER) or 0.0


@pytest.fixture
async def empty_create_subject(nats_url: str, database_url: str) -> AsyncIterator[str]:
    """``jobs.fal.create`` with nothing on it (no runner runs in these tests), emptied again after."""
    subject = subjects.job_subject(Runner.fal, Mode.create)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    await js.purge_stream(subjects.JOBS_STREAM, subject=subject)
    yield subject
    await js.purge_stream(subjects.JOBS_STREAM, subject=subject)
    await nc.close()


async def signed_by_billing(js: JetStreamContext, subject: str) -> bool:
    """Whether the job on ``subject`` carries billing's signature of its exact bytes (runners check it)."""
    last = await js.get_last_msg(subjects.JOBS_STREAM, subject)
    signature = (last.headers or {}).get(JOB_SIGNATURE_HEADER)
    return job_signature_valid(SIGNING_KEY.encode(), last.data or b"", signature)


async def handoff_checked(database_url: str, job_id: str) -> bool:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(
            "SELECT handoff_checked_at IS NOT NULL FROM operations WHERE job_id = $1", job_id
        )
    finally:
        await connection.close()


async def test_billing_queues_the_job_it_reserved_once(
    settings_factory: Callable[..., BillingSettings], database_url: str, empty_create_subject: str
) -> None:
    settings = settings_factory(handoff_after_s=0.3, sweeper_interval_s=0.1, job_signing_key=SIGNING_KEY)
    before = handed_over()
    async with running_billing(settings) as billing:
        await new_user(billing, 30)
        job = flux_job(30)
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)  # a retry
        js = billing.client.jetstream()  # the test reads as admin, not as billing
        assert await stored(js, empty_create_subject) == [job]
        last = await js.get_last_msg(subjects.JOBS_STREAM, empty_create_subject)
        assert last.headers and last.headers["Nats-Msg-Id"] == job.job_id
        assert await signed_by_billing(js, empty_create_subject)

        async def checked() -> bool:
            return await handoff_checked(database_url, job.job_id)

        await eventually(checked, what="billing's look at the reservation")
        assert await stored(js, empty_create_subject) == [job]
        assert handed_over() == before


async def test_a_job_whose_queueing_failed_is_handed_over_by_billing(
    settings_factory: Callable[..., BillingSettings], database_url: str, empty_create_subject: str
) -> None:
    settings = settings_factory(handoff_after_s=0.5, sweeper_interval_s=0.1, job_signing_key=SIGNING_KEY)
    before = handed_over()
    async with running_billing(settings) as billing:
        await new_user(billing, 31)
        job = flux_job(31)
        js = billing.client.jetstream()  # the test acts as admin, not as billing
        # No JOBS stream while billing reserves: its publish right after the reservation fails.
        await js.delete_stream(subjects.JOBS_STREAM)
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        await ensure_layout(js)

        async def on_the_stream() -> bool:
            return bool(await stored(js, empty_create_subject))

        await eventually(on_the_stream, what="the job published by billing's hand-over")
        (published,) = await stored(js, empty_create_subject)
        assert published == job
        assert await signed_by_billing(js, empty_create_subject)  # the hand-over signs as well
        assert handed_over() == before + 1
        assert (await operation_row(database_url, job.job_id))["status"] == "PENDING"  # type: ignore[index]


async def test_a_published_job_is_not_run_twice(
    settings_factory: Callable[..., BillingSettings], database_url: str, empty_create_subject: str
) -> None:
    settings = settings_factory(handoff_after_s=0.3, sweeper_interval_s=0.1)
    before = handed_over()
    async with running_billing(settings) as billing:
        await new_user(billing, 32)
        job = flux_job(32)
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        js = billing.client.jetstream()  # the test reads as admin, not as billing
        await js.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})

        async def checked() -> bool:
            return await handoff_checked(database_url, job.job_id)

        await eventually(checked, what="billing's look at the reservation")
        assert await stored(js, empty_create_subject) == [job]  # the stream dropped billing's copy
        assert handed_over() == before


async def test_a_finished_job_is_never_published_again(
    settings_factory: Callable[..., BillingSettings], database_url: str, empty_create_subject: str
) -> None:
    settings = settings_factory(handoff_after_s=0.3, sweeper_interval_s=0.1)
    async with running_billing(settings) as billing:
        await new_user(billing, 33)
        job = flux_job(33)
        await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
        release = ReleaseRequest(job_id=job.job_id, reason="publish_failed")
        await billing.call(subjects.BILLING_RELEASE, release, OperationView)
        await asyncio.sleep(1.0)  # three handoff periods
        assert not await handoff_checked(database_url, job.job_id)
        # The one copy billing queued when it reserved; never a second.
        assert await stored(billing.client.jetstream(), empty_create_subject) == [job]
