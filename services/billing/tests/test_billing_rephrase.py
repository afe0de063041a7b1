"""The free «Переформулировать»: billing holds nothing for it only when its own records allow it."""

from __future__ import annotations

import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import ReserveReply, ReserveRequest
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import BadRequest
from medialab_contracts.events import FailureReason
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode
from medialab_testkit.billing import RunningBilling, failed, new_user, operation_row, publish_event
from medialab_testkit.waiting import eventually

CATALOG = default_catalog()


def job(user_id: int, model_key: str = "nb", *, free: bool = False) -> JobRequest:
    return CATALOG.by_key(model_key).job(Mode.create, user_id, user_id, free=free, prompt="кот")


async def fail(
    billing: RunningBilling, database_url: str, held: ReserveRequest, reason: FailureReason
) -> None:
    """The runner reports the held job failed for ``reason``; returns once billing released it."""
    await publish_event(billing.client.jetstream(), failed(held, reason))

    async def released() -> bool:
        row = await operation_row(database_url, held.job_id)
        return row is not None and row["status"] == "FAILED"

    await eventually(released, what=f"release of job {held.job_id}")


async def refused(billing: RunningBilling, database_url: str, user_id: int, reason: FailureReason) -> str:
    """A paid job that the runner then reports failed for ``reason``; its id."""
    paid = ReserveRequest.for_job(job(user_id))
    await billing.call(subjects.BILLING_RESERVE, paid, ReserveReply)
    await fail(billing, database_url, paid, reason)
    return paid.job_id


async def test_one_free_rephrase_per_job_refused_by_a_safety_filter(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    first = await refused(billing, database_url, 1, FailureReason.moderation)
    rephrase = ReserveRequest.for_job(job(1, free=True), rephrase_of=first)
    reply = await billing.call(subjects.BILLING_RESERVE, rephrase, ReserveReply)
    assert (reply.operation.price, reply.balance.available) == (0, 3000)
    again = await billing.call(subjects.BILLING_RESERVE, rephrase, ReserveReply)  # a retry is the same hold
    assert again.operation.job_id == rephrase.job_id
    second = ReserveRequest.for_job(job(1, free=True), rephrase_of=first)
    with pytest.raises(BadRequest):  # the refused job was rephrased already
        await billing.call(subjects.BILLING_RESERVE, second, ReserveReply)


async def test_a_free_rephrase_refused_again_may_be_rephrased_once_more(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    first = await refused(billing, database_url, 1, FailureReason.moderation)
    rephrase = ReserveRequest.for_job(job(1, free=True), rephrase_of=first)
    await billing.call(subjects.BILLING_RESERVE, rephrase, ReserveReply)
    await fail(billing, database_url, rephrase, FailureReason.moderation)
    again = ReserveRequest.for_job(job(1, free=True), rephrase_of=rephrase.job_id)
    reply = await billing.call(subjects.BILLING_RESERVE, again, ReserveReply)
    assert reply.operation.price == 0


@pytest.mark.parametrize("case", ["provider_error", "other_user", "other_model", "unknown_job", "priced"])
async def test_a_rephrase_billing_cannot_verify_is_refused(
    billing: RunningBilling, database_url: str, case: str
) -> None:
    await new_user(billing, 1)
    await new_user(billing, 2)
    reason = FailureReason.provider_error if case == "provider_error" else FailureReason.moderation
    first = await refused(billing, database_url, 1, reason)
    user = 2 if case == "other_user" else 1
    model = "sd" if case == "other_model" else "nb"
    target = "f" * 32 if case == "unknown_job" else first
    request = ReserveRequest.for_job(job(user, model, free=case != "priced"), rephrase_of=target)
    with pytest.raises(BadRequest):
        await billing.call(subjects.BILLING_RESERVE, request, ReserveReply)
    assert await operation_row(database_url, request.job_id) is None
