"""The money operations: plain async functions over one asyncpg connection.

Model
-----
``accounts`` holds two numbers per user, ``balance`` and ``reserved``; ``available = balance − reserved``.
Every change to either is one row in ``ledger`` carrying ``delta_balance`` and ``delta_reserved``:

==========  ==============  ===============  =====================================================
kind        delta_balance   delta_reserved   when
==========  ==============  ===============  =====================================================
welcome     +credit         0                the user is created (once: unique index)
topup       +amount         0                an admin tops up (once per request_id: unique index)
hold        0               +price           a job is reserved (once per job: unique index)
release     0               −price           a job failed or timed out (the hold ends, no charge)
charge      −price          −price           a job succeeded (the hold becomes the payment)
refund      +price          0                a charged job's result could not be delivered
                                             (only what is still charged after a partial_refund)
partial_    +missing        0                a job asked for several images (variants) and got
refund                                       fewer: with its charge, the missing images' price back
payment     +amount         0                a payment is credited (once per payment: billing/stars.py)
promo       +amount         0                a promo code is redeemed (once per code and user: promo.py)
referral    +bonus          0                a referred user first pays (once per referred user: promo.py)
==========  ==============  ===============  =====================================================

A job gets at most one of ``charge`` / ``release`` (unique index), so it is charged at most once, and
at most one ``refund``, only after its ``charge``. A job's price is per image × ``images``; its charge
and its ``partial_refund`` (at most one, unique index) are written by one statement, so the missing
images are returned exactly when the job is charged and never again.

Invariant (checked by ``check_consistency``, exported as a metric), for every account::

    balance  = Σ ledger.delta_balance   of the user
    reserved = Σ ledger.delta_reserved  of the user = Σ price of the user's PENDING operations
    0 ≤ reserved ≤ balance              (a CHECK constraint: available never goes below zero)

Concurrency
-----------
Every money movement is ONE SQL statement (data-modifying CTEs), so it is atomic without an explicit
transaction and costs one round trip. Reserve is a conditional ``UPDATE … WHERE balance − reserved
≥ price``: the row lock serialises concurrent reserves of one user and PostgreSQL re-checks the
condition on the latest row version, so concurrent reserves can never over-commit. Settle and release
are conditional on ``status = 'PENDING'``, so only one of any number of concurrent calls moves money;
the others find the operation already finished and answer idempotently. The unique indexes on the
ledger back all of this up inside the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from medialab_contracts.billing import (
    UNDELIVERABLE,
    BalanceView,
    HistoryEntry,
    HistoryKind,
    HistoryPage,
    OperationStatus,
    OperationView,
    ReserveRequest,
    TopupRequest,
)
from medialab_contracts.errors import (
    BadAmount,
    BadRequest,
    Conflict,
    InsufficientFunds,
    TooManyJobs,
    UnknownJob,
    UnknownUser,
)
from medialab_contracts.modes import Mode

log = logging.getLogger(__name__)

T = TypeVar("T")

# Reads of an operation always return these columns, in this order.
_OP_COLUMNS = (
    "job_id, user_id, mode, model_id, price, status, images, delivered, created_at, updated_at, "
    "failure_reason, provider_cost"
)
# What a charged operation got back for images it asked for and did not get (0 for one not charged).
_RETURNED = "(o.images - coalesce(o.delivered, o.images)) * (o.price / o.images)"

_ENSURE_USER = """
WITH new_user AS (
    INSERT INTO users (user_id, username, first_name) VALUES ($1, $2, $3)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING user_id
), new_account AS (
    INSERT INTO accounts (user_id, balance) SELECT user_id, $4 FROM new_user
    RETURNING user_id
), welcome AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved)
    SELECT user_id, 'welcome', $4, 0 FROM new_account
)
SELECT count(*) FROM new_account
"""

_BALANCE = "SELECT user_id, balance, reserved FROM accounts WHERE user_id = $1"

_RESERVE = f"""
WITH held AS (
    UPDATE accounts SET reserved = reserved + $3
    WHERE user_id = $2 AND balance - reserved >= $3
      AND NOT EXISTS (SELECT 1 FROM operations WHERE job_id = $1)
      AND (SELECT count(*) FROM operations WHERE user_id = $2 AND status = 'PENDING') < $10
    RETURNING user_id, balance, reserved
), op AS (
    INSERT INTO operations (job_id, user_id, chat_id, mode, model_id, price, deadline_at, job, rephrase_of,
                            provider_cost, images)
    SELECT $1, user_id, $4, $5, $6, $3, now() + make_interval(secs => $7), $8::jsonb, $9, $11, $12 FROM held
    RETURNING {_OP_COLUMNS}
), hold AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, job_id)
    SELECT user_id, 'hold', 0, price, job_id FROM op
)
SELECT op.*, held.balance, held.reserved FROM op, held
"""

_OPERATION = f"SELECT {_OP_COLUMNS} FROM operations WHERE job_id = $1"
_IN_FLIGHT = "SELECT count(*) FROM operations WHERE user_id = $1 AND status = 'PENDING'"

# May job $5 be the free rephrase of job $1? Only the same user's job on the same model at the same
# list price (or itself a free rephrase, checked so when it was held), refused by a safety filter,
# and not yet rephrased by another job.
_MAY_REPHRASE = """
SELECT r.user_id = $2 AND r.model_id = $3 AND (r.price = $4 OR (r.price = 0 AND r.rephrase_of IS NOT NULL))
       AND r.status = 'FAILED' AND r.failure_reason = 'moderation'
       AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.rephrase_of = r.job_id AND o.job_id <> $5)
FROM operations r WHERE r.job_id = $1
"""

# Settle and release: the PENDING → final transition, the account update and the ledger rows. A
# charge records the images delivered ($4, None: all) and returns the missing ones' price at once.
_FINISH = f"""
WITH op AS (
    UPDATE operations SET status = $2, failure_reason = $3, updated_at = now(),
                          delivered = CASE WHEN $2 = 'CHARGED'
                                           THEN least(coalesce($4::int, images), images) END
    WHERE job_id = $1 AND status = 'PENDING'
    RETURNING {_OP_COLUMNS}
), terms AS (
    SELECT op.*, {_RETURNED.replace("o.", "op.")} AS returned FROM op
), acct AS (
    UPDATE accounts a SET balance = a.balance - CASE WHEN $2 = 'CHARGED' THEN t.price - t.returned ELSE 0 END,
                          reserved = a.reserved - t.price
    FROM terms t WHERE a.user_id = t.user_id
    RETURNING a.balance
), moved AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, job_id)
    SELECT user_id, CASE WHEN $2 = 'CHARGED' THEN 'charge' ELSE 'release' END,
           CASE WHEN $2 = 'CHARGED' THEN -price ELSE 0 END, -price, job_id
    FROM terms
    UNION ALL
    SELECT user_id, 'partial_refund', returned, 0, job_id FROM terms WHERE returned > 0
)
SELECT terms.* FROM terms, acct
"""

# What a CHARGED job still holds of the balance back to it: CHARGED → REFUNDED and its ledger row, in
# one statement (the missing images' part, if any, went back with the charge).
_REFUND = f"""
WITH op AS (
    UPDATE operations SET status = 'REFUNDED', failure_reason = $2, updated_at = now()
    WHERE job_id = $1 AND status = 'CHARGED'
    RETURNING {_OP_COLUMNS}
), terms AS (
    SELECT op.*, op.price - {_RETURNED.replace("o.", "op.")} AS charged FROM op
), acct AS (
    UPDATE accounts a SET balance = a.balance + t.charged
    FROM terms t WHERE a.user_id = t.user_id
    RETURNING a.balance
), moved AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, job_id)
    SELECT user_id, 'refund', charged, 0, job_id FROM terms
)
SELECT terms.* FROM terms, acct
"""

_EXPIRE_DUE = """
WITH due AS (
    SELECT job_id FROM operations
    WHERE status = 'PENDING' AND deadline_at <= now()
    ORDER BY deadline_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), op AS (
    UPDATE operations o SET status = 'FAILED', failure_reason = 'timeout', updated_at = now()
    FROM due WHERE o.job_id = due.job_id
    RETURNING o.job_id, o.user_id, o.chat_id, o.mode, o.price
), per_user AS (
    SELECT user_id, sum(price)::bigint AS total FROM op GROUP BY user_id
), acct AS (
    UPDATE accounts a SET reserved = a.reserved - per_user.total
    FROM per_user WHERE a.user_id = per_user.user_id
), released AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, job_id)
    SELECT user_id, 'release', 0, -price, job_id FROM op
)
SELECT job_id, user_id, chat_id, mode, price FROM op
"""

# Reservations whose job may never have been published: still PENDING a while after they were made,
# and not looked at yet. Each is taken once (its check time set in the same statement).
_HANDOFF_DUE = """
WITH due AS (
    SELECT job_id FROM operations
    WHERE status = 'PENDING' AND job IS NOT NULL AND handoff_checked_at IS NULL
      AND created_at <= now() - make_interval(secs => $1)
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE operations o SET handoff_checked_at = now()
FROM due WHERE o.job_id = due.job_id
RETURNING o.job_id, o.job::text AS job
"""

_TOPUP = """
WITH credit AS (
    INSERT INTO ledger (user_id, kind, delta_balance, delta_reserved, admin_id, request_id)
    SELECT user_id, 'topup', $3, 0, $1, $4 FROM accounts WHERE user_id = $2 AND balance + $3 <= $5
    ON CONFLICT (request_id) WHERE kind = 'topup' DO NOTHING
    RETURNING user_id, delta_balance
), acct AS (
    UPDATE accounts a SET balance = a.balance + credit.delta_balance
    FROM credit WHERE a.user_id = credit.user_id
    RETURNING a.user_id, a.balance, a.reserved
)
SELECT user_id, balance, reserved FROM acct
"""

_TOPUP_BY_REQUEST = """
SELECT user_id, admin_id, delta_balance FROM ledger WHERE kind = 'topup' AND request_id = $1
"""

# The user's ledger with the balance after each row; a job's hold is shown only while the job runs
# (afterwards its charge, release or refund tells the story). A release because the result could not
# be delivered (the gateway's refund came before the charge) is shown as such, not as a failed job.
_HISTORY_ROWS = f"""
WITH rows AS (
    SELECT l.id, l.kind, l.created_at, l.delta_balance, l.job_id,
           sum(l.delta_balance) OVER (ORDER BY l.id) AS balance_after,
           o.mode, o.model_id, o.price, o.status, o.failure_reason, p.method
    FROM ledger l LEFT JOIN operations o ON o.job_id = l.job_id
    LEFT JOIN payment_orders p ON p.charge_id = l.external_id AND l.kind IN ('payment', 'payment_refund')
    WHERE l.user_id = $1
)
SELECT id, created_at, delta_balance, job_id, balance_after, mode, model_id, price, method,
       CASE WHEN kind = 'release' AND failure_reason LIKE '{UNDELIVERABLE}%' THEN 'undelivered'
            ELSE kind END AS kind
FROM rows WHERE kind <> 'hold' OR status = 'PENDING'
"""
_HISTORY = _HISTORY_ROWS + "ORDER BY id DESC LIMIT $2 OFFSET $3"

_HISTORY_TOTAL = f"""
SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1) AS known,
       (SELECT count(*) FROM ({_HISTORY_ROWS}) shown) AS total
"""

_ACCOUNT_MISMATCHES = """
WITH moved AS (
    SELECT user_id, sum(delta_balance)::bigint AS balance, sum(delta_reserved)::bigint AS reserved
    FROM ledger GROUP BY user_id
), pending AS (
    SELECT user_id, sum(price)::bigint AS reserved FROM operations WHERE status = 'PENDING' GROUP BY user_id
)
SELECT coalesce(a.user_id, m.user_id) AS user_id, a.balance, a.reserved,
       coalesce(m.balance, 0) AS ledger_balance, coalesce(m.reserved, 0) AS ledger_reserved,
       coalesce(p.reserved, 0) AS pending_reserved
FROM accounts a
FULL JOIN moved m ON m.user_id = a.user_id
LEFT JOIN pending p ON p.user_id = coalesce(a.user_id, m.user_id)
WHERE a.user_id IS NULL
   OR a.balance <> coalesce(m.balance, 0)
   OR a.reserved <> coalesce(m.reserved, 0)
   OR a.reserved <> coalesce(p.reserved, 0)
ORDER BY 1
"""

# An operation's ledger rows must match its status: PENDING = hold; CHARGED = hold + charge;
# FAILED = hold + release; REFUNDED = hold + charge + refund; each for exactly the operation's price,
# plus a partial_refund of the missing images' price for a charged job that got fewer than it asked
# (a refund then returns the rest).
_OPERATION_MISMATCHES = f"""
SELECT o.job_id FROM operations o LEFT JOIN ledger l ON l.job_id = o.job_id
GROUP BY o.job_id
HAVING count(*) FILTER (WHERE l.kind = 'hold' AND l.delta_reserved = o.price) <> 1
    OR count(*) FILTER (WHERE l.kind = 'charge' AND l.delta_balance = -o.price)
       <> (o.status IN ('CHARGED', 'REFUNDED'))::int
    OR count(*) FILTER (WHERE l.kind = 'release' AND l.delta_reserved = -o.price)
       <> (o.status = 'FAILED')::int
    OR count(*) FILTER (WHERE l.kind = 'partial_refund' AND l.delta_balance = {_RETURNED})
       <> ({_RETURNED} > 0)::int
    OR count(*) FILTER (WHERE l.kind = 'refund' AND l.delta_balance = o.price - {_RETURNED})
       <> (o.status = 'REFUNDED')::int
    OR count(l.id) <> 1 + (o.status <> 'PENDING')::int + (o.status = 'REFUNDED')::int + ({_RETURNED} > 0)::int
ORDER BY 1
"""

_ACCOUNTS_COUNT = "SELECT count(*) FROM accounts"
_PENDING_TOTALS = "SELECT count(*), coalesce(sum(price), 0)::bigint FROM operations WHERE status = 'PENDING'"

# Losing a race (a concurrent duplicate of the same job, a deadlock with a sweeper) is retried.
_ATTEMPTS = 4


@dataclass(frozen=True)
class Reservation:
    operation: OperationView
    balance: BalanceView
    created: bool  # False: this job was already reserved, nothing moved


@dataclass(frozen=True)
class Transition:
    operation: OperationView
    changed: bool  # False: the operation already had this outcome, nothing moved
    provider_cost: int = 0  # kopecks the provider bills for the job (set when it moved)
    returned: int = 0  # kopecks given back with the charge for images not delivered (set when it moved)


@dataclass(frozen=True)
class Topup:
    balance: BalanceView
    created: bool  # False: this request_id was already applied


@dataclass(frozen=True)
class Expired:
    job_id: str
    user_id: int
    chat_id: int
    mode: Mode
    price: int


@dataclass(frozen=True)
class AccountMismatch:
    user_id: int
    balance: int | None
    reserved: int | None
    ledger_balance: int
    ledger_reserved: int
    pending_reserved: int


@dataclass(frozen=True)
class ConsistencyReport:
    accounts: int
    account_mismatches: list[AccountMismatch]
    operation_mismatches: list[str]  # job ids

    @property
    def ok(self) -> bool:
        return not self.account_mismatches and not self.operation_mismatches


def _operation(row: asyncpg.Record) -> OperationView:
    return OperationView(
        job_id=row["job_id"],
        user_id=row["user_id"],
        mode=Mode(row["mode"]),
        model_id=row["model_id"],
        price=row["price"],
        status=OperationStatus(row["status"]),
        images=row["images"],
        delivered=row["delivered"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failure_reason=row["failure_reason"],
    )


def _balance(user_id: int, balance: int, reserved: int, created: bool = False) -> BalanceView:
    return BalanceView(
        user_id=user_id, balance=balance, reserved=reserved, available=balance - reserved, created=created
    )


async def _retrying(attempt: Callable[[], Awaitable[T | None]]) -> T:
    """Run ``attempt`` until it returns a result; None or a lost race means "look again"."""
    for _ in range(_ATTEMPTS):
        try:
            result = await attempt()
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError) as error:
            log.info("lost a race (%s); retrying", type(error).__name__)
            continue
        if result is not None:
            return result
    raise Conflict("concurrent updates of the same record; try again")


async def ensure_user(
    conn: asyncpg.Connection,
    user_id: int,
    welcome_credit: int,
    username: str | None = None,
    first_name: str | None = None,
) -> BalanceView:
    """Create the user with the welcome credit, exactly once however often and concurrently called."""
    created = await conn.fetchval(_ENSURE_USER, user_id, username, first_name, welcome_credit)
    if created:
        return _balance(user_id, welcome_credit, 0, created=True)
    # A concurrent creator we waited for has committed by now; this fresh snapshot sees its rows.
    return await balance(conn, user_id)


async def balance(conn: asyncpg.Connection, user_id: int) -> BalanceView:
    row = await conn.fetchrow(_BALANCE, user_id)
    if row is None:
        raise UnknownUser(f"user {user_id} is not registered")
    return _balance(row["user_id"], row["balance"], row["reserved"])


def _same_reservation(op: OperationView, req: ReserveRequest) -> bool:
    return (op.user_id, op.price, op.mode, op.model_id) == (req.user_id, req.price, req.mode, req.model_id)


async def reserve(
    conn: asyncpg.Connection,
    req: ReserveRequest,
    deadline_s: int,
    max_in_flight: int,
    list_price: int | None = None,
    provider_cost: int = 0,
) -> Reservation:
    """Hold ``req.price`` for the job; a repeated call for the same job returns the first reservation.

    A user may have at most ``max_in_flight`` jobs PENDING (``TooManyJobs``): a quota, not money, so
    two reserves racing at the limit may both pass (the count is read with the statement's snapshot).
    A free rephrase (``req.rephrase_of``) is held only if its refused job qualifies, ``list_price``
    being what the new job would cost; the unique index keeps a second rephrase of it out.
    ``provider_cost`` (kopecks) is what the provider bills for the job, kept for the statistics.
    """

    async def attempt() -> Reservation | None:
        if req.rephrase_of is not None:
            allowed = await conn.fetchval(
                _MAY_REPHRASE, req.rephrase_of, req.user_id, req.model_id, list_price, req.job_id
            )
            if not allowed:
                log.warning("free rephrase %s of job %s refused", req.job_id, req.rephrase_of)
                raise BadRequest(f"job {req.rephrase_of} gives no free rephrase")
        row = await conn.fetchrow(
            _RESERVE,
            req.job_id,
            req.user_id,
            req.price,
            req.chat_id,  # ReserveRequest fills it from user_id when absent
            req.mode.value,
            req.model_id,
            deadline_s,
            req.job.model_dump_json() if req.job is not None else None,
            req.rephrase_of,
            max_in_flight,
            provider_cost,
            req.job.images if req.job is not None else 1,
        )
        if row is not None:
            return Reservation(_operation(row), _balance(req.user_id, row["balance"], row["reserved"]), True)
        existing = await conn.fetchrow(_OPERATION, req.job_id)
        if existing is not None:
            op = _operation(existing)
            if not _same_reservation(op, req):
                log.warning("reserve of job %s conflicts with its existing reservation", req.job_id)
                raise Conflict(f"job {req.job_id} is already reserved with other terms")
            return Reservation(op, await balance(conn, op.user_id), False)
        if await conn.fetchval(_IN_FLIGHT, req.user_id) >= max_in_flight:
            raise TooManyJobs(limit=max_in_flight)
        account = await balance(conn, req.user_id)
        if account.available >= req.price:
            return None  # funds were freed between the two statements
        raise InsufficientFunds(available=account.available, price=req.price)

    return await _retrying(attempt)


async def _finish(
    conn: asyncpg.Connection,
    job_id: str,
    status: OperationStatus,
    reason: str | None,
    delivered: int | None = None,
) -> Transition:
    async def attempt() -> Transition | None:
        row = await conn.fetchrow(_FINISH, job_id, status.value, reason, delivered)
        if row is not None:
            return Transition(_operation(row), True, row["provider_cost"], row["returned"])
        existing = await conn.fetchrow(_OPERATION, job_id)
        if existing is None:
            raise UnknownJob(f"no operation for job {job_id}")
        op = _operation(existing)
        if op.status == status:
            return Transition(op, False)
        if op.status == OperationStatus.pending:
            return None  # finished by a transaction that committed after our snapshot: read again
        log.warning("refused to mark job %s %s: it is already %s", job_id, status.value, op.status.value)
        raise Conflict(f"job {job_id} is already {op.status.value}")

    return await _retrying(attempt)


async def settle(conn: asyncpg.Connection, job_id: str, delivered: int | None = None) -> Transition:
    """Charge a PENDING job's hold; settling a CHARGED job again is a no-op, a FAILED one a Conflict.

    ``delivered``: the images the job returned (None: all it asked for). Fewer than it asked for are
    charged at the per-image price and the rest of the hold goes back in the same statement
    (``Transition.returned``); a redelivered event finds the job CHARGED and moves nothing.
    """
    return await _finish(conn, job_id, OperationStatus.charged, None, delivered)


async def release(conn: asyncpg.Connection, job_id: str, reason: str) -> Transition:
    """Return a PENDING job's hold; releasing a FAILED job again is a no-op, a CHARGED one a Conflict."""
    return await _finish(conn, job_id, OperationStatus.failed, reason)


async def refund(conn: asyncpg.Connection, job_id: str, reason: str) -> Transition:
    """Give a job's price back: CHARGED → REFUNDED, PENDING → released (FAILED); FAILED or REFUNDED
    already: nothing moves. ``changed`` says whether this call moved money."""

    async def attempt() -> Transition | None:
        row = await conn.fetchrow(_REFUND, job_id, reason)
        if row is not None:
            return Transition(_operation(row), True)
        existing = await conn.fetchrow(_OPERATION, job_id)
        if existing is None:
            raise UnknownJob(f"no operation for job {job_id}")
        op = _operation(existing)
        if op.status in (OperationStatus.refunded, OperationStatus.failed):
            return Transition(op, False)
        if op.status == OperationStatus.pending:
            # Not settled yet: releasing the hold is the refund, and the settle that follows finds it FAILED.
            try:
                return await _finish(conn, job_id, OperationStatus.failed, reason)
            except Conflict:
                return None  # settled meanwhile: the next look refunds the charge
        return None  # charged by a transaction that committed after our snapshot: refund it now

    return await _retrying(attempt)


async def expire_due(conn: asyncpg.Connection, limit: int) -> list[Expired]:
    """Release PENDING operations past their deadline (skipping rows another replica holds)."""
    rows = await conn.fetch(_EXPIRE_DUE, limit)
    return [Expired(r["job_id"], r["user_id"], r["chat_id"], Mode(r["mode"]), r["price"]) for r in rows]


async def handoff_due(conn: asyncpg.Connection, after_s: float, limit: int) -> list[tuple[str, str]]:
    """(job id, job JSON) of reservations PENDING for ``after_s`` whose publish was not checked yet."""
    rows = await conn.fetch(_HANDOFF_DUE, after_s, limit)
    return [(r["job_id"], r["job"]) for r in rows]


async def topup(conn: asyncpg.Connection, req: TopupRequest, max_balance: int) -> Topup:
    """Credit ``req.amount``; the same ``request_id`` is applied once, with other terms it is a Conflict."""

    async def attempt() -> Topup | None:
        row = await conn.fetchrow(
            _TOPUP, req.admin_id, req.target_user_id, req.amount, req.request_id, max_balance
        )
        if row is not None:
            return Topup(_balance(row["user_id"], row["balance"], row["reserved"]), True)
        applied = await conn.fetchrow(_TOPUP_BY_REQUEST, req.request_id)
        if applied is not None:
            if (applied["user_id"], applied["admin_id"], applied["delta_balance"]) != (
                req.target_user_id,
                req.admin_id,
                req.amount,
            ):
                raise Conflict(f"top-up request {req.request_id} was already used with other terms")
            return Topup(await balance(conn, req.target_user_id), False)
        account = await balance(conn, req.target_user_id)
        if account.balance + req.amount > max_balance:
            raise BadAmount(f"the balance would exceed {max_balance} kopecks")
        return None

    return await _retrying(attempt)


async def operation(conn: asyncpg.Connection, job_id: str, user_id: int) -> OperationView:
    """A user's own operation; someone else's job looks exactly like a missing one."""
    row = await conn.fetchrow(_OPERATION, job_id)
    if row is None or row["user_id"] != user_id:
        raise UnknownJob(f"no operation {job_id} for this user")
    return _operation(row)


def _history_entry(row: asyncpg.Record) -> HistoryEntry:
    return HistoryEntry(
        kind=HistoryKind(row["kind"]),
        at=row["created_at"],
        delta=row["delta_balance"],
        balance_after=row["balance_after"],
        job_id=row["job_id"],
        mode=Mode(row["mode"]) if row["mode"] else None,
        model_id=row["model_id"],
        price=row["price"],
        method=row["method"],
    )


async def history(conn: asyncpg.Connection, user_id: int, page: int, page_size: int) -> HistoryPage:
    """The user's ledger, newest first: credits, top-ups, jobs, each with the balance after it."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow(_HISTORY_TOTAL, user_id)
        if not head["known"]:
            raise UnknownUser(f"user {user_id} is not registered")
        rows = await conn.fetch(_HISTORY, user_id, page_size, (page - 1) * page_size)
    return HistoryPage(
        items=[_history_entry(r) for r in rows], page=page, page_size=page_size, total=head["total"]
    )


async def check_consistency(conn: asyncpg.Connection) -> ConsistencyReport:
    """Compare every account with its ledger rows and pending operations (the module's invariant)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        accounts = await conn.fetchval(_ACCOUNTS_COUNT)
        account_rows = await conn.fetch(_ACCOUNT_MISMATCHES)
        operation_rows = await conn.fetch(_OPERATION_MISMATCHES)
    return ConsistencyReport(
        accounts=accounts,
        account_mismatches=[AccountMismatch(**dict(r)) for r in account_rows],
        operation_mismatches=[r["job_id"] for r in operation_rows],
    )


async def pending_totals(conn: asyncpg.Connection) -> tuple[int, int]:
    """How many reservations are PENDING and how many kopecks they hold."""
    row = await conn.fetchrow(_PENDING_TOTALS)
    return int(row[0]), int(row[1])
