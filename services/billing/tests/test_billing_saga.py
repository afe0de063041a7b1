"""The saga: final job events on EVENTS settle or release, once, whatever arrives twice or broken."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, OperationView, ReserveReply, SettleRequest
from medialab_contracts.events import FailureReason
from medialab_contracts.ids import new_job_id
from medialab_contracts.modes import Mode
from medialab_testkit.billing import (
    RunningBilling,
    failed,
    ledger_kinds,
    new_user,
    operation_row,
    publish_event,
    reserve_request,
    succeeded,
)
from medialab_testkit.waiting import eventually

WELCOME = 3000


async def settled_queue(billing: RunningBilling) -> bool:
    """The saga consumer has nothing left to deliver and nothing unacknowledged."""
    info = await billing.client.jetstream().consumer_info(
        subjects.EVENTS_STREAM, subjects.BILLING_SAGA_CONSUMER
    )
    return info.num_pending == 0 and info.num_ack_pending == 0


async def status_of(database_url: str, job_id: str) -> str | None:
    row = await operation_row(database_url, job_id)
    return None if row is None else row["status"]


async def test_consumer_is_durable_and_filtered_to_final_events(billing: RunningBilling) -> None:
    info = await billing.client.jetstream().consumer_info(
        subjects.EVENTS_STREAM, subjects.BILLING_SAGA_CONSUMER
    )
    assert info.config.durable_name == subjects.BILLING_SAGA_CONSUMER
    assert sorted(info.config.filter_subjects or []) == sorted(subjects.FINAL_EVENTS_FILTERS)
    assert info.config.max_deliver and info.config.max_deliver > 0


async def test_succeeded_event_charges_once_even_when_delivered_twice(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    req = reserve_request(1, 800)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    event = succeeded(req)
    await publish_event(billing.client.jetstream(), event)
    await publish_event(billing.client.jetstream(), event, dedup=False)  # a second copy on the stream
    await eventually(lambda: settled_queue(billing), what="saga drained")
    assert await status_of(database_url, req.job_id) == "CHARGED"
    assert await ledger_kinds(database_url, req.job_id) == ["hold", "charge"]
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved) == (WELCOME - 800, 0)


async def test_failed_event_releases_with_its_reason(billing: RunningBilling, database_url: str) -> None:
    await new_user(billing, 1)
    req = reserve_request(1, 800)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    await publish_event(billing.client.jetstream(), failed(req, FailureReason.moderation))

    async def released() -> bool:
        return await status_of(database_url, req.job_id) == "FAILED"

    await eventually(released, what="release")
    row = await operation_row(database_url, req.job_id)
    assert row is not None and row["failure_reason"] == "moderation"
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved) == (WELCOME, 0)


async def test_failed_event_for_a_charged_job_is_a_no_op(billing: RunningBilling, database_url: str) -> None:
    await new_user(billing, 1)
    req = reserve_request(1, 800)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=req.job_id), OperationView)
    await publish_event(billing.client.jetstream(), failed(req))
    await eventually(lambda: settled_queue(billing), what="saga drained")
    assert await status_of(database_url, req.job_id) == "CHARGED"
    assert await ledger_kinds(database_url, req.job_id) == ["hold", "charge"]


async def test_unknown_jobs_and_poison_are_acknowledged_and_skipped(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    stranger = reserve_request(1, 100)  # never reserved
    await publish_event(billing.client.jetstream(), succeeded(stranger))
    job = new_job_id()
    await billing.client.jetstream().publish(subjects.event_subject(job, "succeeded"), b"\x00\xffnot json")
    await billing.client.jetstream().publish(
        subjects.event_subject(job, "failed"), b'{"kind": "failed", "job_id": "x"}'
    )
    # The saga goes on with the next good event.
    req = reserve_request(1, 300, mode=Mode.text)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    await publish_event(billing.client.jetstream(), succeeded(req))
    await eventually(lambda: settled_queue(billing), what="saga drained")
    assert await status_of(database_url, req.job_id) == "CHARGED"
    assert await operation_row(database_url, stranger.job_id) is None
