"""Promo codes, referral bonuses and /stats over real NATS and PostgreSQL: each credit once, the limits
held by the database under concurrency, and the statistics equal to sums of the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from billing import ledger
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    HistoryKind,
    HistoryPage,
    HistoryRequest,
    OperationView,
    ReserveReply,
    ReserveRequest,
    SettleRequest,
    TopupReply,
    TopupRequest,
)
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import NotAdmin, UnknownUser
from medialab_contracts.modes import Mode
from medialab_contracts.payments import StarsOrder, StarsOrderRequest, StarsPaidReply, StarsPaidRequest
from medialab_contracts.promo import (
    PromoCreateRequest,
    PromoOutcome,
    PromoRedeemReply,
    PromoRedeemRequest,
    PromoView,
    ReferralReply,
    ReferralRequest,
    StatsReply,
    StatsRequest,
)
from medialab_testkit.billing import (
    ADMIN_ID,
    RunningBilling,
    new_user,
    reserve_request,
    running_billing,
)

WELCOME = 3000
PACK = 10_000
BONUS = 5_000


async def available(billing: RunningBilling, user_id: int) -> int:
    view = await billing.call(subjects.BILLING_BALANCE, BalanceRequest(user_id=user_id), BalanceView)
    return view.available


async def consistent(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return (await ledger.check_consistency(conn)).ok
    finally:
        await conn.close()


async def make_code(
    billing: RunningBilling, code: str, amount: int, uses: int = 1, until: datetime | None = None
) -> PromoView:
    request = PromoCreateRequest(admin_id=ADMIN_ID, code=code, amount=amount, max_uses=uses, expires_at=until)
    return await billing.call(subjects.BILLING_PROMO_CREATE, request, PromoView)


async def redeem(billing: RunningBilling, user_id: int, code: str) -> PromoRedeemReply:
    request = PromoRedeemRequest(user_id=user_id, code=code)
    return await billing.call(subjects.BILLING_PROMO_REDEEM, request, PromoRedeemReply)


async def pay(billing: RunningBilling, user_id: int, charge_id: str, amount: int = PACK) -> StarsPaidReply:
    made = await billing.call(
        subjects.BILLING_STARS_ORDER, StarsOrderRequest(user_id=user_id, amount=amount), StarsOrder
    )
    request = StarsPaidRequest(order_id=made.order_id, user_id=user_id, stars=made.stars, charge_id=charge_id)
    return await billing.call(subjects.BILLING_STARS_PAID, request, StarsPaidReply)


async def test_only_admins_make_codes_and_a_code_is_made_once(billing: RunningBilling) -> None:
    with pytest.raises(NotAdmin):
        forged = PromoCreateRequest(admin_id=ADMIN_ID + 1, code="FREE", amount=100)
        await billing.call(subjects.BILLING_PROMO_CREATE, forged, PromoView)
    made = await make_code(billing, "spring-25", 2500, uses=10)
    assert (made.code, made.amount, made.max_uses, made.uses, made.created) == (
        "SPRING-25",
        2500,
        10,
        0,
        True,
    )
    again = await make_code(billing, "SPRING-25", 99_999, uses=1)
    assert (again.amount, again.max_uses, again.created) == (2500, 10, False)  # the first terms stay


async def test_two_redemptions_at_once_by_one_user_credit_once(
    billing: RunningBilling, database_url: str
) -> None:
    await new_user(billing, 601)
    await make_code(billing, "TWICE", 1500, uses=100)
    replies = await asyncio.gather(*(redeem(billing, 601, "twice") for _ in range(20)))
    outcomes = [reply.outcome for reply in replies]
    assert outcomes.count(PromoOutcome.credited) == 1
    assert set(outcomes) == {PromoOutcome.credited, PromoOutcome.already_used}
    assert await available(billing, 601) == WELCOME + 1500
    assert (await redeem(billing, 601, "TWICE")).outcome == PromoOutcome.already_used

    page = await billing.call(subjects.BILLING_HISTORY, HistoryRequest(user_id=601), HistoryPage)
    assert [(item.kind, item.delta) for item in page.items] == [
        (HistoryKind.promo, 1500),
        (HistoryKind.welcome, WELCOME),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        keys = await conn.fetch("SELECT external_id FROM ledger WHERE kind = 'promo'")
        uses = await conn.fetchval("SELECT uses FROM promo_codes WHERE code = 'TWICE'")
    finally:
        await conn.close()
    assert [row["external_id"] for row in keys] == ["promo:1:601"] and uses == 1
    assert await consistent(database_url)


async def test_a_code_is_redeemed_at_most_its_uses_however_many_race(
    billing: RunningBilling, database_url: str
) -> None:
    users = list(range(611, 631))
    for user in users:
        await new_user(billing, user)
    await make_code(billing, "THREE", 700, uses=3)
    replies = await asyncio.gather(*(redeem(billing, user, "THREE") for user in users))
    outcomes = [reply.outcome for reply in replies]
    assert outcomes.count(PromoOutcome.credited) == 3
    assert outcomes.count(PromoOutcome.used_up) == len(users) - 3
    balances = [await available(billing, user) for user in users]
    assert sorted(balances) == [WELCOME] * (len(users) - 3) + [WELCOME + 700] * 3
    assert await consistent(database_url)


async def test_unknown_expired_and_unregistered(billing: RunningBilling, database_url: str) -> None:
    await new_user(billing, 641)
    await make_code(billing, "OLD", 500, uses=5, until=datetime.now(UTC) - timedelta(minutes=1))
    await make_code(billing, "FRESH", 500, uses=5, until=datetime.now(UTC) + timedelta(days=1))
    assert (await redeem(billing, 641, "OLD")).outcome == PromoOutcome.expired
    for typed in ("NOPE", "x", "два слова", "A" * 64):
        assert (await redeem(billing, 641, typed)).outcome == PromoOutcome.unknown
    with pytest.raises(UnknownUser):
        await redeem(billing, 649, "FRESH")  # never started the bot
    credited = await redeem(billing, 641, " fresh ")
    assert (credited.outcome, credited.amount) == (PromoOutcome.credited, 500)
    assert credited.balance is not None and credited.balance.available == WELCOME + 500
    assert await consistent(database_url)


async def test_referrals_are_off_by_default(billing: RunningBilling) -> None:
    await new_user(billing, 651)
    await new_user(billing, 652)
    reply = await billing.call(
        subjects.BILLING_REFERRAL, ReferralRequest(user_id=652, referrer_id=651), ReferralReply
    )
    assert not reply.recorded
    await pay(billing, 652, "stxOFF")
    assert await available(billing, 651) == WELCOME


async def test_the_referrer_gets_the_bonus_once_when_the_referred_user_first_pays(
    settings_factory: Callable[..., BillingSettings], database_url: str
) -> None:
    async with running_billing(settings_factory(referral_bonus=BONUS)) as billing:
        for user in (661, 662, 663):
            await new_user(billing, user)

        async def refer(user: int, referrer: int) -> bool:
            request = ReferralRequest(user_id=user, referrer_id=referrer)
            return (await billing.call(subjects.BILLING_REFERRAL, request, ReferralReply)).recorded

        assert not await refer(661, 661)  # nobody refers themselves
        assert not await refer(662, 669)  # an unknown referrer
        assert await refer(662, 661)
        assert not await refer(662, 663)  # the first referrer stays
        assert await available(billing, 661) == WELCOME  # nothing until 662 pays

        # Two payments of the referred user at once: one bonus.
        await asyncio.gather(pay(billing, 662, "stxREF1"), pay(billing, 662, "stxREF2"))
        await pay(billing, 662, "stxREF3")
        assert await available(billing, 661) == WELCOME + BONUS
        assert await available(billing, 662) == WELCOME + 3 * PACK
        assert await refer(663, 662)  # 663 has not paid: may be referred
        await pay(billing, 663, "stxREF4")
        assert await available(billing, 662) == WELCOME + 3 * PACK + BONUS
        assert not await refer(663, 661)  # paid already: too late to be referred

        page = await billing.call(subjects.BILLING_HISTORY, HistoryRequest(user_id=661), HistoryPage)
        assert [(item.kind, item.delta) for item in page.items] == [
            (HistoryKind.referral, BONUS),
            (HistoryKind.welcome, WELCOME),
        ]
        conn = await asyncpg.connect(database_url)
        try:
            keys = await conn.fetch("SELECT external_id FROM ledger WHERE kind = 'referral' ORDER BY id")
        finally:
            await conn.close()
        assert [row["external_id"] for row in keys] == ["referral:662", "referral:663"]
        assert await consistent(database_url)


async def test_stats_are_sums_of_the_ledger(billing: RunningBilling, database_url: str) -> None:
    with pytest.raises(NotAdmin):
        await billing.call(subjects.BILLING_STATS, StatsRequest(admin_id=ADMIN_ID + 1), StatsReply)
    for user in (671, 672, 673):
        await new_user(billing, user)
    await pay(billing, 671, "stxSTATS1")
    await pay(billing, 672, "stxSTATS2", amount=30_000)
    await make_code(billing, "STATS", 1000, uses=5)
    await redeem(billing, 673, "STATS")
    await billing.call(
        subjects.BILLING_TOPUP,
        TopupRequest(request_id="stats-topup-1", admin_id=ADMIN_ID, target_user_id=673, amount=400),
        TopupReply,
    )

    catalog = default_catalog()
    model = catalog.by_key("nb")
    job = model.job(user_id=671, chat_id=671, mode=Mode.create)
    charged = await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply)
    await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=job.job_id), OperationView)
    faceswap = catalog.by_key("fs").job(user_id=672, chat_id=672, mode=Mode.faceswap)
    await billing.call(subjects.BILLING_RESERVE, ReserveRequest.for_job(faceswap), ReserveReply)
    await billing.call(subjects.BILLING_SETTLE, SettleRequest(job_id=faceswap.job_id), OperationView)
    held = reserve_request(673, 500)  # reserved, never finished: not charged, still active
    await billing.call(subjects.BILLING_RESERVE, held, ReserveReply)

    reply = await billing.call(subjects.BILLING_STATS, StatsRequest(admin_id=ADMIN_ID), StatsReply)
    assert [period.days for period in reply.periods] == [1, 7, 30]
    nb_cost = -(-model.cost_micro_usd * 9_500 // 1_000_000)  # the default rate, rounded up
    fs_cost = -(-catalog.by_key("fs").cost_micro_usd * 9_500 // 1_000_000)
    for period in reply.periods:
        assert (period.new_users, period.active_users, period.paid_users) == (3, 3, 2)
        assert period.jobs == {Mode.create: 1, Mode.faceswap: 1}
        assert period.charged == charged.operation.price + faceswap.price
        assert period.revenue == {"stars": PACK + 30_000}
        assert period.credits == {"welcome": 3 * WELCOME, "promo": 1000, "admin": 400}
        assert period.provider_cost == nb_cost + fs_cost
        assert period.margin == PACK + 30_000 - nb_cost - fs_cost
    assert await consistent(database_url)
