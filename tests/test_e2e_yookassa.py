"""YooKassa top-ups across the real services: billing and payments as processes, a real nats-server and
PostgreSQL, the YooKassa emulator over HTTP sending its notifications to the payments service.

Whatever the notifications do — arrive twice, never, late and out of order, or lie about a payment
— each succeeded payment is credited exactly once and no other payment is credited; a lost
notification is caught by the reconcile; a refund debits once. The property test draws
interleavings of payments, notification faults, forgeries and payments-service restarts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator

import asyncpg
import httpx
import nats
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, EnsureUserRequest
from medialab_contracts.errors import EmailRequired, InsufficientFunds, NotAdmin
from medialab_contracts.payments import (
    YooKassaRefundReply,
    YooKassaRefundRequest,
    YooKassaTopupLink,
    YooKassaTopupRequest,
)
from medialab_runtime.rpc import call
from medialab_sandbox.yookassa import Delivery, Target, YooKassaEmulatorControl
from medialab_testkit.e2e import (
    ADMIN_ID,
    Stack,
    balance_available,
    contains,
    press,
    reply,
    running_stack,
    text_of,
)
from medialab_testkit.waiting import eventually
from nats.aio.client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

WELCOME = 3000
PACK = 10_000
EMAIL = "payer@example.com"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.launch("billing")
        stack.start_yookassa()
        stack.launch("payments")
        stack.launch("gateway-bot", YOOKASSA_ENABLED="true")

    with running_stack(tmp_path_factory.mktemp("yookassa"), postgres_admin_url, build) as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def nc(stack: Stack) -> AsyncIterator[Client]:
    client = await nats.connect(stack.nats_url)
    yield client
    await client.drain()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    assert stack.database_url is not None
    conn = await asyncpg.connect(stack.database_url)
    yield conn
    await conn.close()


@pytest_asyncio.fixture(loop_scope="module")
async def emu(stack: Stack) -> AsyncIterator[YooKassaEmulatorControl]:
    async with YooKassaEmulatorControl(stack.yookassa_url) as control:
        yield control


_user_ids = iter(range(900_001, 999_999))


async def new_user(nc: Client) -> int:
    user_id = next(_user_ids)
    await call(nc, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=user_id), BalanceView)
    return user_id


async def link(nc: Client, user_id: int, amount: int = PACK, email: str | None = EMAIL) -> YooKassaTopupLink:
    request = YooKassaTopupRequest(user_id=user_id, amount=amount, email=email)
    return await call(nc, subjects.PAYMENTS_YOOKASSA_CREATE, request, YooKassaTopupLink, timeout=20)


async def available(nc: Client, user_id: int) -> int:
    view = await call(nc, subjects.BILLING_BALANCE, BalanceRequest(user_id=user_id), BalanceView)
    return view.available


async def credits(db: asyncpg.Connection, payment_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM ledger WHERE kind = 'payment' AND external_id = $1", payment_id
        )
    )


async def order_status(db: asyncpg.Connection, payment_id: str) -> str:
    return str(await db.fetchval("SELECT status FROM payment_orders WHERE payment_id = $1", payment_id))


async def settled(emu: YooKassaEmulatorControl) -> bool:
    """No notification is held back or still being delivered."""
    state = await emu.state()
    return state.in_flight == 0 and state.held == 0


async def test_paying_credits_once_even_when_the_notification_comes_twice(
    nc: Client, db: asyncpg.Connection, emu: YooKassaEmulatorControl
) -> None:
    user = await new_user(nc)
    with pytest.raises(EmailRequired):
        await link(nc, user, email=None)
    made = await link(nc, user)
    assert made.confirmation_url.endswith(f"/checkout/{made.payment_id}")
    [payment] = [p for p in (await emu.state()).payments if p.id == made.payment_id]
    assert payment.receipt is not None and payment.receipt["customer"] == {"email": EMAIL}
    assert payment.amount == "100.00" and payment.metadata == {"order_id": made.order_id}

    await emu.deliveries(Delivery.DUPLICATE)
    await emu.pay(made.payment_id)
    await eventually(lambda: _equals(available(nc, user), WELCOME + PACK), timeout=30)
    await eventually(lambda: settled(emu), timeout=30)
    assert await credits(db, made.payment_id) == 1
    assert await available(nc, user) == WELCOME + PACK
    # The e-mail is remembered for the next top-up.
    again = await link(nc, user, email=None)
    assert again.payment_id != made.payment_id


async def test_forged_notifications_credit_nothing(
    nc: Client, db: asyncpg.Connection, emu: YooKassaEmulatorControl
) -> None:
    user = await new_user(nc)
    made = await link(nc, user)
    await emu.forge(made.payment_id)  # "succeeded", but the payment is still pending
    await emu.forge(None)  # a payment YooKassa never had
    await emu.forge(made.payment_id, event="payment.canceled")
    await eventually(lambda: settled(emu), timeout=30)
    state = await emu.state()
    assert sum(d.forged and d.status_code == 200 for d in state.deliveries) >= 3
    assert await credits(db, made.payment_id) == 0
    assert await order_status(db, made.payment_id) == "PENDING"
    assert await available(nc, user) == WELCOME


async def test_a_lost_notification_is_caught_by_the_reconcile(
    nc: Client, db: asyncpg.Connection, emu: YooKassaEmulatorControl
) -> None:
    user = await new_user(nc)
    made = await link(nc, user)
    await emu.deliveries(Delivery.LOST)
    await emu.pay(made.payment_id)
    await eventually(lambda: _equals(available(nc, user), WELCOME + PACK), timeout=30)
    assert (await emu.state()).lost >= 1
    assert await credits(db, made.payment_id) == 1


async def test_out_of_order_notifications(
    nc: Client, db: asyncpg.Connection, emu: YooKassaEmulatorControl
) -> None:
    user = await new_user(nc)
    paid, dropped = await link(nc, user), await link(nc, user)
    await emu.deliveries(Delivery.HOLD, 2)
    await emu.pay(paid.payment_id)
    await emu.cancel(dropped.payment_id)
    await emu.forge(dropped.payment_id)  # a stale lie, delivered before the truth
    await emu.release_held(reverse=True)
    await eventually(lambda: _equals(order_status(db, dropped.payment_id), "CANCELLED"), timeout=30)
    await eventually(lambda: _equals(available(nc, user), WELCOME + PACK), timeout=30)
    await eventually(lambda: settled(emu), timeout=30)
    assert (await credits(db, paid.payment_id), await credits(db, dropped.payment_id)) == (1, 0)


async def test_the_webhook_reads_nothing_but_a_payment_id(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.payments_webhook_port}/yookassa/webhook"
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, content=b"not json")).status_code == 400
        bad_id = {"type": "notification", "event": "payment.succeeded", "object": {"id": "../../v3/refunds"}}
        assert (await client.post(url, json=bad_id)).status_code == 400
        refund = {"type": "notification", "event": "refund.succeeded", "object": {"id": str(uuid.uuid4())}}
        assert (await client.post(url, json=refund)).status_code == 200
        unknown = {"type": "notification", "event": "payment.succeeded", "object": {"id": str(uuid.uuid4())}}
        assert (await client.post(url, json=unknown)).status_code == 200


async def test_a_server_error_on_create_still_makes_one_payment(
    nc: Client, emu: YooKassaEmulatorControl
) -> None:
    user = await new_user(nc)
    before = len((await emu.state()).payments)
    await emu.fail(Target.CREATE, 500, after_create=True)
    made = await link(nc, user)
    state = await emu.state()
    assert len(state.payments) == before + 1 and state.replays >= 1
    assert made.payment_id == state.payments[-1].id


async def test_a_refund_debits_once(nc: Client, db: asyncpg.Connection, emu: YooKassaEmulatorControl) -> None:
    user = await new_user(nc)
    made = await link(nc, user)
    await emu.pay(made.payment_id)
    await eventually(lambda: _equals(available(nc, user), WELCOME + PACK), timeout=30)
    refund = YooKassaRefundRequest(admin_id=ADMIN_ID, payment_id=made.payment_id)
    with pytest.raises(NotAdmin):
        await call(
            nc,
            subjects.PAYMENTS_YOOKASSA_REFUND,
            refund.model_copy(update={"admin_id": user}),
            YooKassaRefundReply,
        )
    replies = [
        await call(nc, subjects.PAYMENTS_YOOKASSA_REFUND, refund, YooKassaRefundReply, timeout=20)
        for _ in range(2)
    ]
    assert [r.debited for r in replies] == [True, False]
    assert await available(nc, user) == WELCOME
    [payment] = [p for p in (await emu.state()).payments if p.id == made.payment_id]
    assert payment.refunded == "100.00"
    debits = await db.fetchval(
        "SELECT count(*) FROM ledger WHERE kind = 'payment_refund' AND external_id = $1", made.payment_id
    )
    assert debits == 1

    # Spent money cannot be refunded: the balance never goes negative, YooKassa is not asked.
    spender = await new_user(nc)
    spent = await link(nc, spender)
    await emu.pay(spent.payment_id)
    await eventually(lambda: _equals(available(nc, spender), WELCOME + PACK), timeout=30)
    await db.execute("UPDATE accounts SET reserved = balance WHERE user_id = $1", spender)
    try:
        with pytest.raises(InsufficientFunds):
            ask = YooKassaRefundRequest(admin_id=ADMIN_ID, payment_id=spent.payment_id)
            await call(nc, subjects.PAYMENTS_YOOKASSA_REFUND, ask, YooKassaRefundReply, timeout=20)
    finally:
        await db.execute("UPDATE accounts SET reserved = 0 WHERE user_id = $1", spender)
    [payment] = [p for p in (await emu.state()).payments if p.id == spent.payment_id]
    assert payment.refunded == "0.00"


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_topping_up_by_card_in_the_chat(stack: Stack, emu: YooKassaEmulatorControl) -> None:
    """💳 Пополнить → 100 ₽ → Картой или СБП → the e-mail (asked once) → the link → paid → told."""
    async with stack.user() as user:
        await user.send_text("💳 Пополнить")
        packs = await reply(user, contains("Выберите сумму"))
        await press(user, packs, "100 ₽")
        methods = await reply(user, contains("Как оплатить"))
        await press(user, methods, "💳 Картой или СБП (ЮKassa)")
        await reply(user, contains("нужен e-mail"))
        await user.send_text("not an address")
        await reply(user, contains("не похоже на e-mail"))
        await user.send_text("chat-payer@example.com")
        offer = await reply(user, contains("Счёт на 100 ₽ готов"))
        [[button]] = (offer.reply_markup or {})["inline_keyboard"]
        assert button["text"] == "Оплатить 100 ₽"
        payment_id = button["url"].rsplit("/", 1)[1]
        [payment] = [p for p in (await emu.state()).payments if p.id == payment_id]
        assert (
            payment.receipt is not None and payment.receipt["customer"]["email"] == "chat-payer@example.com"
        )

        await emu.pay(payment_id)
        done = await reply(user, contains("Баланс пополнен"))
        assert "Баланс пополнен на 100 ₽" in text_of(done)
        assert await balance_available(user) == WELCOME + PACK

        # The e-mail is remembered: the next top-up goes straight to the link.
        await user.send_text("💳 Пополнить")
        packs = await reply(user, contains("Выберите сумму"))
        await press(user, packs, "300 ₽")
        methods = await reply(user, contains("Как оплатить"))
        await press(user, methods, "💳 Картой или СБП (ЮKassa)")
        await reply(user, contains("Счёт на 300 ₽ готов"))

        await user.send_command("history")
        history = await reply(user, contains("История операций"))
        assert "💳 пополнение картой или СБП +100 ₽ · баланс 130 ₽" in text_of(history)

    async with stack.user(user_id=ADMIN_ID) as admin:
        await admin.send_text(f"/refund_yookassa {payment_id}")
        refunded = await reply(admin, contains("Возврат 100 ₽ через ЮKassa"))
        assert str(user.user_id) in text_of(refunded)


# ── the property: any interleaving, one credit per succeeded payment ─────────────────────────────

Fate = st.sampled_from(["pay", "cancel", "leave"])
Mode = st.sampled_from([None, Delivery.DUPLICATE, Delivery.LOST, Delivery.HOLD])
Step = st.one_of(
    st.tuples(st.just("settle"), st.integers(0, 3), Fate, Mode),
    st.tuples(st.just("forge"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("release"), st.booleans()),
    st.tuples(st.just("restart")),
    st.tuples(st.just("pause"), st.sampled_from([0.0, 0.3, 1.2])),
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(steps=st.lists(Step, min_size=3, max_size=10))
async def test_any_interleaving_credits_each_succeeded_payment_once(
    stack: Stack, nc: Client, db: asyncpg.Connection, emu: YooKassaEmulatorControl, steps: list[tuple]
) -> None:
    user = await new_user(nc)
    links = [await link(nc, user) for _ in range(4)]
    fate: dict[str, str] = {}
    for step in steps:
        match step:
            case ("settle", index, what, mode):
                target = links[index].payment_id
                if target in fate:
                    continue
                fate[target] = what
                if mode is not None:
                    await emu.deliveries(mode)
                if what == "pay":
                    await emu.pay(target)
                elif what == "cancel":
                    await emu.cancel(target)
            case ("forge", index, unknown):
                await emu.forge(None if unknown else links[index].payment_id)
            case ("release", reverse):
                await emu.release_held(reverse=reverse)
            case ("restart",):
                process = stack.service("payments")
                await asyncio.to_thread(process.restart, 60)
            case ("pause", seconds):
                await asyncio.sleep(seconds)
    await emu.release_held()
    succeeded = [pid for pid, what in fate.items() if what == "pay"]

    async def booked() -> bool:
        statuses = {link.payment_id: await order_status(db, link.payment_id) for link in links}
        return all(statuses[pid] == "PAID" for pid in succeeded) and all(
            statuses[pid] == "CANCELLED" for pid, what in fate.items() if what == "cancel"
        )

    await eventually(booked, timeout=60)
    await eventually(lambda: settled(emu), timeout=30)
    for made in links:
        assert await credits(db, made.payment_id) == (1 if made.payment_id in succeeded else 0)
    assert await available(nc, user) == WELCOME + PACK * len(succeeded)
    for made in links:
        if made.payment_id not in fate:
            assert await order_status(db, made.payment_id) == "PENDING"
