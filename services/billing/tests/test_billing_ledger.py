"""The money operations of ``billing.ledger`` against a real PostgreSQL, one rule per test."""

from __future__ import annotations

import asyncpg
import pytest
from billing import ledger
from billing.db import load_migrations, migrate
from medialab_contracts.billing import UNDELIVERABLE, OperationStatus, TopupRequest
from medialab_contracts.errors import (
    BadAmount,
    Conflict,
    InsufficientFunds,
    TooManyJobs,
    UnknownJob,
    UnknownUser,
)
from medialab_contracts.ids import new_request_id
from medialab_testkit.billing import reserve_request

WELCOME = 3000
DEADLINE_S = 600
IN_FLIGHT = 10


async def ledger_kinds(conn: asyncpg.Connection, job_id: str) -> list[str]:
    rows = await conn.fetch("SELECT kind FROM ledger WHERE job_id = $1 ORDER BY id", job_id)
    return [r["kind"] for r in rows]


async def assert_consistent(conn: asyncpg.Connection) -> None:
    report = await ledger.check_consistency(conn)
    assert report.ok, report


async def test_migrations_apply_once_and_are_recorded(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await migrate(conn) == [m.version for m in load_migrations()]
        assert await migrate(conn) == []
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in load_migrations()]
    finally:
        await conn.close()


async def test_ensure_user_credits_the_welcome_once(conn: asyncpg.Connection) -> None:
    first = await ledger.ensure_user(conn, 1, WELCOME, "ann", "Ann")
    again = await ledger.ensure_user(conn, 1, WELCOME)
    assert (first.created, first.balance, first.available) == (True, WELCOME, WELCOME)
    assert (again.created, again.balance) == (False, WELCOME)
    assert await conn.fetchval("SELECT count(*) FROM ledger WHERE user_id = 1") == 1
    await assert_consistent(conn)


async def test_reserve_holds_and_settle_charges(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    reservation = await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    assert reservation.created
    assert reservation.operation.status == OperationStatus.pending
    assert (reservation.balance.balance, reservation.balance.reserved, reservation.balance.available) == (
        WELCOME,
        800,
        WELCOME - 800,
    )
    settled = await ledger.settle(conn, req.job_id)
    assert settled.changed and settled.operation.status == OperationStatus.charged
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved, view.available) == (WELCOME - 800, 0, WELCOME - 800)
    assert await ledger_kinds(conn, req.job_id) == ["hold", "charge"]
    await assert_consistent(conn)


async def test_a_user_gets_no_more_jobs_in_flight_than_the_quota(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    held = [reserve_request(1, 100) for _ in range(3)]
    for req in held:
        await ledger.reserve(conn, req, DEADLINE_S, 3)
    with pytest.raises(TooManyJobs) as refused:
        await ledger.reserve(conn, reserve_request(1, 100), DEADLINE_S, 3)
    assert refused.value.limit == 3
    assert (await ledger.balance(conn, 1)).reserved == 300  # nothing held for the refused one
    await ledger.release(conn, held[0].job_id, "provider_error")  # one finished: room for one more
    await ledger.reserve(conn, reserve_request(1, 100), DEADLINE_S, 3)
    await assert_consistent(conn)


async def test_release_returns_the_hold(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    released = await ledger.release(conn, req.job_id, "provider_error")
    assert released.changed
    assert (released.operation.status, released.operation.failure_reason) == (
        OperationStatus.failed,
        "provider_error",
    )
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved) == (WELCOME, 0)
    assert await ledger_kinds(conn, req.job_id) == ["hold", "release"]
    await assert_consistent(conn)


async def test_refund_of_a_charged_job_gives_the_price_back_once(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.settle(conn, req.job_id)
    refunded = await ledger.refund(conn, req.job_id, "undeliverable")
    again = await ledger.refund(conn, req.job_id, "undeliverable")
    assert (refunded.changed, again.changed) == (True, False)
    assert (refunded.operation.status, refunded.operation.failure_reason) == (
        OperationStatus.refunded,
        "undeliverable",
    )
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved) == (WELCOME, 0)
    assert await ledger_kinds(conn, req.job_id) == ["hold", "charge", "refund"]
    with pytest.raises(Conflict):
        await ledger.settle(conn, req.job_id)  # a redelivered success event charges nothing again
    await assert_consistent(conn)


async def test_refund_before_the_settle_releases_the_hold(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    refunded = await ledger.refund(conn, req.job_id, "undeliverable")
    assert refunded.changed and refunded.operation.status == OperationStatus.failed
    with pytest.raises(Conflict):
        await ledger.settle(conn, req.job_id)
    view = await ledger.balance(conn, 1)
    assert (view.balance, view.reserved) == (WELCOME, 0)
    assert await ledger_kinds(conn, req.job_id) == ["hold", "release"]
    with pytest.raises(UnknownJob):
        await ledger.refund(conn, "0" * 32, "undeliverable")
    await assert_consistent(conn)


async def test_reserve_twice_is_one_reservation(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    first = await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    second = await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    assert not second.created
    assert second.operation.model_dump(exclude={"trace_id"}) == first.operation.model_dump(
        exclude={"trace_id"}
    )
    assert second.balance.reserved == 800
    assert await ledger_kinds(conn, req.job_id) == ["hold"]


async def test_reserve_of_a_charged_job_returns_it_even_without_funds(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, WELCOME)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.settle(conn, req.job_id)
    replay = await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    assert not replay.created and replay.operation.status == OperationStatus.charged
    assert (await ledger.balance(conn, 1)).balance == 0


@pytest.mark.parametrize("change", [{"user_id": 2}, {"price": 801}, {"model_id": "fal-ai/nano-banana-pro"}])
async def test_reserve_of_a_job_with_other_terms_is_a_conflict(
    conn: asyncpg.Connection, change: dict
) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    await ledger.ensure_user(conn, 2, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    other = req.model_copy(update=change)
    with pytest.raises(Conflict):
        await ledger.reserve(conn, other, DEADLINE_S, IN_FLIGHT)
    assert await ledger_kinds(conn, req.job_id) == ["hold"]
    assert (await ledger.balance(conn, 2)).reserved == 0


async def test_reserve_beyond_available_is_refused_with_the_figures(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    await ledger.reserve(conn, reserve_request(1, 2400), DEADLINE_S, IN_FLIGHT)
    with pytest.raises(InsufficientFunds) as refused:
        await ledger.reserve(conn, reserve_request(1, 800), DEADLINE_S, IN_FLIGHT)
    assert (refused.value.available, refused.value.price) == (600, 800)
    assert await conn.fetchval("SELECT count(*) FROM operations") == 1


async def test_reserve_for_an_unknown_user(conn: asyncpg.Connection) -> None:
    with pytest.raises(UnknownUser):
        await ledger.reserve(conn, reserve_request(42, 100), DEADLINE_S, IN_FLIGHT)


async def test_settle_after_settle_charges_once(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    first = await ledger.settle(conn, req.job_id)
    second = await ledger.settle(conn, req.job_id)
    assert first.changed and not second.changed
    assert second.operation.status == OperationStatus.charged
    assert (await ledger.balance(conn, 1)).balance == WELCOME - 800
    assert await ledger_kinds(conn, req.job_id) == ["hold", "charge"]


async def test_release_after_release_is_a_no_op(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.release(conn, req.job_id, "failed")
    again = await ledger.release(conn, req.job_id, "failed")
    assert not again.changed
    assert await ledger_kinds(conn, req.job_id) == ["hold", "release"]


async def test_release_after_settle_is_refused(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.settle(conn, req.job_id)
    with pytest.raises(Conflict):
        await ledger.release(conn, req.job_id, "failed")
    assert (await ledger.balance(conn, 1)).balance == WELCOME - 800
    assert await ledger_kinds(conn, req.job_id) == ["hold", "charge"]


async def test_settle_after_release_is_refused(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 800)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.release(conn, req.job_id, "failed")
    with pytest.raises(Conflict):
        await ledger.settle(conn, req.job_id)
    assert (await ledger.balance(conn, 1)).balance == WELCOME
    assert await ledger_kinds(conn, req.job_id) == ["hold", "release"]


async def test_settle_and_release_of_unknown_jobs(conn: asyncpg.Connection) -> None:
    with pytest.raises(UnknownJob):
        await ledger.settle(conn, "0" * 32)
    with pytest.raises(UnknownJob):
        await ledger.release(conn, "0" * 32, "failed")


async def test_topup_is_idempotent_by_request_id(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = TopupRequest(request_id=new_request_id(), admin_id=9, target_user_id=1, amount=5000)
    first = await ledger.topup(conn, req, 10**9)
    second = await ledger.topup(conn, req, 10**9)
    assert first.created and not second.created
    assert first.balance.balance == second.balance.balance == WELCOME + 5000
    with pytest.raises(Conflict):
        await ledger.topup(conn, req.model_copy(update={"amount": 6000}), 10**9)
    row = await conn.fetchrow("SELECT admin_id, delta_balance FROM ledger WHERE kind = 'topup'")
    assert (row["admin_id"], row["delta_balance"]) == (9, 5000)
    await assert_consistent(conn)


async def test_topup_refusals(conn: asyncpg.Connection) -> None:
    with pytest.raises(UnknownUser):
        await ledger.topup(
            conn, TopupRequest(request_id=new_request_id(), admin_id=9, target_user_id=5, amount=1), 10**9
        )
    await ledger.ensure_user(conn, 1, WELCOME)
    over = TopupRequest(request_id=new_request_id(), admin_id=9, target_user_id=1, amount=2000)
    with pytest.raises(BadAmount):
        await ledger.topup(conn, over, WELCOME + 1999)
    assert (await ledger.balance(conn, 1)).balance == WELCOME


async def test_operation_is_visible_to_its_owner_only(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    req = reserve_request(1, 100)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    assert (await ledger.operation(conn, req.job_id, 1)).job_id == req.job_id
    with pytest.raises(UnknownJob):
        await ledger.operation(conn, req.job_id, 2)
    with pytest.raises(UnknownJob):
        await ledger.operation(conn, "f" * 32, 1)


async def test_history_is_the_ledger_newest_first_with_the_balance_after_each_row(
    conn: asyncpg.Connection,
) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    await ledger.topup(
        conn, TopupRequest(request_id=new_request_id(), admin_id=9, target_user_id=1, amount=500), 10**9
    )
    charged, released, refunded, undelivered, running = (
        reserve_request(1, price) for price in (100, 200, 300, 50, 400)
    )
    for req in (charged, released, refunded, undelivered, running):
        await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await ledger.settle(conn, charged.job_id)
    await ledger.release(conn, released.job_id, "provider_error")
    await ledger.settle(conn, refunded.job_id)
    await ledger.refund(conn, refunded.job_id, "undeliverable")
    # Telegram refused the result before billing charged it: released, and shown as undelivered.
    await ledger.refund(conn, undelivered.job_id, f"{UNDELIVERABLE}_too_large")
    page = await ledger.history(conn, 1, page=1, page_size=50)
    rows = [(e.kind.value, e.delta, e.balance_after, e.job_id, e.price) for e in page.items]
    assert rows == [
        ("undelivered", 0, WELCOME + 400, undelivered.job_id, 50),
        ("refund", 300, WELCOME + 400, refunded.job_id, 300),
        ("charge", -300, WELCOME + 100, refunded.job_id, 300),
        ("release", 0, WELCOME + 400, released.job_id, 200),
        ("charge", -100, WELCOME + 400, charged.job_id, 100),
        ("hold", 0, WELCOME + 500, running.job_id, 400),  # still running: its hold is shown
        ("topup", 500, WELCOME + 500, None, None),
        ("welcome", WELCOME, WELCOME, None, None),
    ]
    assert page.items[0].mode is not None and page.items[-1].mode is None
    assert all(e.at.utcoffset() is not None and e.at.utcoffset().total_seconds() == 0 for e in page.items)
    first = await ledger.history(conn, 1, page=1, page_size=3)
    last = await ledger.history(conn, 1, page=3, page_size=3)
    assert [e.kind.value for e in first.items] == ["undelivered", "refund", "charge"]
    assert [e.kind.value for e in last.items] == ["topup", "welcome"]
    assert (first.total, first.pages) == (8, 3)
    assert (await ledger.history(conn, 1, page=9, page_size=3)).items == []
    with pytest.raises(UnknownUser):
        await ledger.history(conn, 2, page=1, page_size=2)


async def test_expire_due_releases_only_past_deadline(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    late, fresh = reserve_request(1, 300, chat_id=-100), reserve_request(1, 200)
    await ledger.reserve(conn, late, 0, IN_FLIGHT)
    await ledger.reserve(conn, fresh, DEADLINE_S, IN_FLIGHT)
    expired = await ledger.expire_due(conn, 10)
    assert [(e.job_id, e.chat_id, e.price) for e in expired] == [(late.job_id, -100, 300)]
    assert (await ledger.operation(conn, late.job_id, 1)).failure_reason == "timeout"
    assert (await ledger.balance(conn, 1)).reserved == 200
    assert await ledger.expire_due(conn, 10) == []
    await assert_consistent(conn)


async def test_consistency_check_finds_a_tampered_balance(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    await ledger.ensure_user(conn, 2, WELCOME)
    req = reserve_request(2, 100)
    await ledger.reserve(conn, req, DEADLINE_S, IN_FLIGHT)
    await assert_consistent(conn)
    await conn.execute("UPDATE accounts SET balance = balance + 1 WHERE user_id = 1")
    await conn.execute("DELETE FROM ledger WHERE job_id = $1", req.job_id)
    report = await ledger.check_consistency(conn)
    assert [m.user_id for m in report.account_mismatches] == [1, 2]
    assert report.operation_mismatches == [req.job_id]
    assert not report.ok


async def test_the_database_refuses_a_negative_available(conn: asyncpg.Connection) -> None:
    await ledger.ensure_user(conn, 1, WELCOME)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE accounts SET reserved = balance + 1 WHERE user_id = 1")
