"""No stuck money: PENDING past the deadline is released and the user is told via failed(timeout)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from billing import ledger
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, ReserveReply
from medialab_contracts.events import FailureReason, JobFailed, parse_job_event
from medialab_contracts.modes import Mode
from medialab_testkit.billing import (
    ledger_kinds,
    new_user,
    operation_row,
    reserve_request,
    running_billing,
)
from medialab_testkit.waiting import eventually
from nats.js.api import DeliverPolicy


async def test_expired_reservation_is_released_and_failed_timeout_published(
    settings_factory: Callable[..., BillingSettings], database_url: str
) -> None:
    settings = settings_factory(mode_deadlines_s={Mode.text: 1}, deadline_grace_s=0)
    async with running_billing(settings) as billing:
        await new_user(billing, 1)
        late = reserve_request(1, 100, mode=Mode.text, chat_id=-42)
        kept = reserve_request(1, 200, mode=Mode.create)  # default deadline: 600 s
        for req in (late, kept):
            await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
        subject = subjects.event_subject(late.job_id, "failed")
        js = billing.client.jetstream()
        events = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        msg = await events.next_msg(timeout=10)
        event = parse_job_event(msg.data)
        assert isinstance(event, JobFailed)
        assert (event.reason, event.chat_id, event.user_id) == (FailureReason.timeout, -42, 1)
        assert event.mode == Mode.text
        assert msg.headers and msg.headers["Nats-Msg-Id"] == subjects.event_msg_id(late.job_id, "failed")

        # The event is stored first, the release commits right after it.
        async def released() -> bool:
            row = await operation_row(database_url, late.job_id)
            return row is not None and (row["status"], row["failure_reason"]) == ("FAILED", "timeout")

        await eventually(released, what="release of the expired reservation")
        view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
        assert (view.balance, view.reserved) == (3000, 200)
        # The saga sees the sweeper's own event too: it must be a no-op, not a second release.
        await asyncio.sleep(0.5)
        assert await ledger_kinds(database_url, late.job_id) == ["hold", "release"]
        assert (await operation_row(database_url, kept.job_id))["status"] == "PENDING"  # type: ignore[index]


async def test_two_replicas_sweep_each_reservation_once(
    settings_factory: Callable[..., BillingSettings], database_url: str
) -> None:
    settings = settings_factory(sweeper_interval_s=0.05, sweeper_batch=7)
    async with running_billing(settings) as first, running_billing(settings):
        await new_user(first, 1)
        jobs = [reserve_request(1, 10, deadline_s=600) for _ in range(40)]
        for req in jobs:
            await first.call(subjects.BILLING_RESERVE, req, ReserveReply)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE operations SET deadline_at = now() - interval '1 second'")

            async def all_released() -> bool:
                return await conn.fetchval("SELECT count(*) FROM operations WHERE status = 'PENDING'") == 0

            await eventually(all_released, what="every reservation released")
            releases = await conn.fetchval("SELECT count(*) FROM ledger WHERE kind = 'release'")
            assert releases == len(jobs)
            assert (await ledger.check_consistency(conn)).ok
        finally:
            await conn.close()
        stream = await first.client.jetstream().stream_info(subjects.EVENTS_STREAM)
        assert stream.state.messages == len(jobs)
