"""The ``billing.*`` API over real NATS: concurrency, idempotency under races, bad input, health."""

from __future__ import annotations

import asyncio
import json
import random

import asyncpg
import httpx
import pytest
from billing import ledger
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    CancelOutcome,
    CancelReply,
    CancelRequest,
    EnsureUserRequest,
    HistoryKind,
    HistoryPage,
    HistoryRequest,
    OperationRequest,
    OperationStatus,
    OperationView,
    ReleaseRequest,
    ReserveReply,
    SettleRequest,
    TopupReply,
    TopupRequest,
)
from medialab_contracts.errors import (
    Conflict,
    ErrorCode,
    InsufficientFunds,
    MediaLabError,
    NotAdmin,
    UnknownJob,
    UnknownUser,
)
from medialab_contracts.ids import new_job_id, new_request_id
from medialab_contracts.money import MAX_AMOUNT
from medialab_runtime.job_state import JobState
from medialab_testkit.billing import (
    ADMIN_ID,
    RunningBilling,
    new_user,
    raw_error,
    reserve_request,
    table_counts,
)
from prometheus_client import REGISTRY

WELCOME = 3000


async def consistency(database_url: str) -> ledger.ConsistencyReport:
    conn = await asyncpg.connect(database_url)
    try:
        return await ledger.check_consistency(conn)
    finally:
        await conn.close()


def charged_kopecks(mode: str) -> float:
    return REGISTRY.get_sample_value("medialab_billing_charged_kopecks_total", {"mode": mode}) or 0.0


async def test_200_concurrent_reserves_take_exactly_what_the_balance_covers(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    price = WELCOME // 10

    async def attempt() -> ReserveReply | InsufficientFunds:
        try:
            return await billing.call(subjects.BILLING_RESERVE, reserve_request(1, price), ReserveReply)
        except InsufficientFunds as refused:
            return refused

    outcomes = await asyncio.gather(*(attempt() for _ in range(200)))
    accepted = [o for o in outcomes if isinstance(o, ReserveReply)]
    refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert (len(accepted), len(refused)) == (10, 190)
    assert all(r.balance.available >= 0 for r in accepted)
    assert all(r.available >= 0 and r.price == price for r in refused)
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved, view.available) == (WELCOME, WELCOME, 0)
    assert (await table_counts(database_url))["operations"] == 10
    assert (await consistency(database_url)).ok


async def test_interleaved_reserves_settles_and_releases_keep_the_ledger_exact(
    billing: RunningBilling, database_url: str
) -> None:
    users = [11, 12, 13]
    for user in users:
        await new_user(billing, user)
    rng = random.Random(7)
    charged: dict[int, int] = dict.fromkeys(users, 0)

    async def job(user: int) -> None:
        req = reserve_request(user, rng.choice([100, 300, 800]))
        try:
            await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
        except InsufficientFunds:
            return
        await asyncio.sleep(rng.random() / 50)
        if rng.random() < 0.5:
            await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=req.job_id), OperationView)
            charged[user] += req.price
        else:
            await billing.call(subjects.BILLING_RELEASE, ReleaseRequest(job_id=req.job_id), OperationView)

    await asyncio.gather(*(job(rng.choice(users)) for _ in range(150)))
    for user in users:
        view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=user), BalanceView)
        assert (view.balance, view.reserved) == (WELCOME - charged[user], 0)
    assert sum(charged.values()) > 0
    report = await consistency(database_url)
    assert report.ok and report.accounts == 3


async def test_50_concurrent_ensure_user_create_one_user_with_one_welcome(
    billing: RunningBilling, database_url: str
) -> None:
    views = await asyncio.gather(
        *(
            billing.call(
                subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=5, username="u"), BalanceView
            )
            for _ in range(50)
        )
    )
    assert sum(v.created for v in views) == 1
    assert {(v.balance, v.available) for v in views} == {(WELCOME, WELCOME)}
    counts = await table_counts(database_url)
    assert (counts["users"], counts["ledger"], counts["balances"]) == (1, 1, WELCOME)


async def test_concurrent_duplicates_of_reserve_and_settle_move_money_once(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    req = reserve_request(1, 800)
    charged_before = charged_kopecks("create")
    replies = await asyncio.gather(
        *(billing.call(subjects.BILLING_RESERVE, req, ReserveReply) for _ in range(20))
    )
    assert {r.operation.job_id for r in replies} == {req.job_id}
    settles = await asyncio.gather(
        *(
            billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=req.job_id), OperationView)
            for _ in range(20)
        )
    )
    assert {s.status for s in settles} == {OperationStatus.charged}
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
    assert (view.balance, view.reserved) == (WELCOME - 800, 0)
    assert (await table_counts(database_url))["ledger"] == 3  # welcome, hold, charge
    assert charged_kopecks("create") == charged_before + 800  # revenue counted once, under its mode
    with pytest.raises(Conflict):
        await billing.call(subjects.BILLING_RELEASE, ReleaseRequest(job_id=req.job_id), OperationView)


async def test_topup_by_an_admin_is_applied_once(billing: RunningBilling) -> None:
    await new_user(billing, 2)
    req = TopupRequest(request_id=new_request_id(), admin_id=ADMIN_ID, target_user_id=2, amount=10_000)
    replies = await asyncio.gather(*(billing.call(subjects.BILLING_TOPUP, req, TopupReply) for _ in range(5)))
    assert {r.balance.balance for r in replies} == {WELCOME + 10_000}


async def test_history_and_operation_over_the_bus(billing: RunningBilling) -> None:
    await new_user(billing, 3)
    req = reserve_request(3, 100)
    await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    page = await billing.call(subjects.BILLING_HISTORY, HistoryRequest(user_id=3), HistoryPage)
    assert [(e.kind, e.job_id) for e in page.items] == [
        (HistoryKind.hold, req.job_id),
        (HistoryKind.welcome, None),
    ]
    assert page.items[0].at.tzinfo is not None
    op = await billing.call(
        subjects.BILLING_OPERATION, OperationRequest(job_id=req.job_id, user_id=3), OperationView
    )
    assert op.status == OperationStatus.pending
    with pytest.raises(UnknownJob):
        await billing.call(
            subjects.BILLING_OPERATION, OperationRequest(job_id=req.job_id, user_id=4), OperationView
        )
    with pytest.raises(UnknownUser):
        await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=4), BalanceView)


def _reserve_json(**change: object) -> bytes:
    body: dict[str, object] = {
        "job_id": new_job_id(),
        "user_id": 1,
        "price": 100,
        "mode": "create",
        "model_id": "fal-ai/nano-banana",
    }
    body.update(change)
    return json.dumps(body).encode()


def _topup_json(**change: object) -> bytes:
    body: dict[str, object] = {
        "request_id": new_request_id(),
        "admin_id": ADMIN_ID,
        "target_user_id": 1,
        "amount": 100,
    }
    body.update(change)
    return json.dumps(body).encode()


ALL_ENDPOINTS = [
    subjects.BILLING_ENSURE_USER,
    subjects.BILLING_RESERVE,
    subjects.BILLING_SETTLE,
    subjects.BILLING_RELEASE,
    subjects.BILLING_BALANCE,
    subjects.BILLING_HISTORY,
    subjects.BILLING_TOPUP,
    subjects.BILLING_OPERATION,
]

BAD_REQUESTS = [
    (subjects.BILLING_RESERVE, _reserve_json(price=-100)),
    (subjects.BILLING_RESERVE, _reserve_json(price=100.0)),
    (subjects.BILLING_RESERVE, _reserve_json(price="100")),
    (subjects.BILLING_RESERVE, _reserve_json(price=MAX_AMOUNT + 1)),
    (subjects.BILLING_RESERVE, _reserve_json(job_id="../../etc")),
    (subjects.BILLING_TOPUP, _topup_json(amount=0)),
    (subjects.BILLING_TOPUP, _topup_json(amount=-5)),
    (subjects.BILLING_TOPUP, _topup_json(amount=10.5)),
    (subjects.BILLING_TOPUP, _topup_json(amount=MAX_AMOUNT + 1)),
    (subjects.BILLING_TOPUP, _topup_json(amount=True)),
    (subjects.BILLING_ENSURE_USER, b'{"user_id": 1.5}'),
    (subjects.BILLING_HISTORY, b'{"user_id": 1, "page": 0}'),
]


async def test_bad_input_gets_a_typed_error_and_changes_nothing(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 1)
    reserved = reserve_request(1, 500)
    await billing.call(subjects.BILLING_RESERVE, reserved, ReserveReply)
    before = await table_counts(database_url)
    rng = random.Random(3)
    for subject in ALL_ENDPOINTS:
        for _ in range(3):
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            assert (await raw_error(billing.client, subject, noise)).code == ErrorCode.bad_request
    for subject, body in BAD_REQUESTS:
        error = await raw_error(billing.client, subject, body)
        assert error.code == ErrorCode.bad_request, (subject, body, error)
    with pytest.raises(UnknownJob):
        await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=new_job_id()), OperationView)
    with pytest.raises(UnknownJob):
        await billing.call(subjects.BILLING_RELEASE, ReleaseRequest(job_id=new_job_id()), OperationView)
    with pytest.raises(NotAdmin):
        await billing.call(
            subjects.BILLING_TOPUP, TopupRequest.model_validate_json(_topup_json(admin_id=1)), TopupReply
        )
    with pytest.raises(UnknownUser):
        await billing.call(subjects.BILLING_RESERVE, reserve_request(999, 100), ReserveReply)
    with pytest.raises(Conflict):
        await billing.call(subjects.BILLING_RESERVE, reserved.model_copy(update={"price": 600}), ReserveReply)
    assert await table_counts(database_url) == before


async def test_ready_and_metrics(billing: RunningBilling) -> None:
    await new_user(billing, 1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{billing.health_port}") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["postgres"] is True
        for _ in range(50):
            text = (await http.get("/metrics")).text
            if "medialab_billing_ledger_consistent 1.0" in text:
                break
            await asyncio.sleep(0.1)
        assert "medialab_billing_ledger_consistent 1.0" in text
        assert "medialab_billing_users_created_total" in text


async def test_insufficient_funds_reaches_the_caller_with_figures(billing: RunningBilling) -> None:
    await new_user(billing, 1)
    with pytest.raises(MediaLabError) as refused:
        await billing.call(subjects.BILLING_RESERVE, reserve_request(1, WELCOME + 1), ReserveReply)
    assert isinstance(refused.value, InsufficientFunds)
    assert (refused.value.available, refused.value.price) == (WELCOME, WELCOME + 1)


async def test_cancel_releases_a_job_no_runner_started_and_leaves_a_running_one_to_its_runner(
    billing: RunningBilling,
) -> None:
    await new_user(billing, 41)
    await new_user(billing, 42)
    state = await JobState.open(billing.client.jetstream())
    queued, running_job = reserve_request(41, 800), reserve_request(41, 800)
    for req in (queued, running_job):
        await billing.call(subjects.BILLING_RESERVE, req, ReserveReply)
    await state.start(running_job.job_id)  # a runner took this one to its provider

    # Another user's cancel looks like a missing job and changes nothing.
    with pytest.raises(UnknownJob):
        await billing.call(
            subjects.BILLING_CANCEL, CancelRequest(job_id=queued.job_id, user_id=42), CancelReply
        )

    reply = await billing.call(
        subjects.BILLING_CANCEL, CancelRequest(job_id=queued.job_id, user_id=41), CancelReply
    )
    assert (reply.outcome, reply.operation.status) == (CancelOutcome.released, OperationStatus.failed)
    assert not await state.start(queued.job_id)  # its runner will drop it

    reply = await billing.call(
        subjects.BILLING_CANCEL, CancelRequest(job_id=running_job.job_id, user_id=41), CancelReply
    )
    assert (reply.outcome, reply.operation.status) == (CancelOutcome.requested, OperationStatus.pending)
    assert await state.cancel_requested(running_job.job_id)

    again = await billing.call(
        subjects.BILLING_CANCEL, CancelRequest(job_id=queued.job_id, user_id=41), CancelReply
    )
    assert again.outcome is CancelOutcome.finished  # released already: nothing more moves
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=41), BalanceView)
    assert (view.balance, view.reserved) == (WELCOME, 800)
