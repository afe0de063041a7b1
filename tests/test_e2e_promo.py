"""Promo codes, referral bonuses, typed top-ups and the admins' /stats, end to end.

An admin makes a code with /promo_new, users redeem it with /promo (once each, within its uses);
a user who came by another's invitation link pays with Stars and the inviter gets the bonus once;
/history and /stats show exactly what the ledger holds, to the kopeck.

Gateway and billing as subprocesses, a real nats-server and PostgreSQL, the Telegram emulator over
HTTP (its Stars payments).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import asyncpg
import pytest
from medialab_sandbox.telegram import TelegramUserClient, TranscriptMessage
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

pytestmark = pytest.mark.e2e

WELCOME = 3000
BONUS = 5000  # the referral bonus billing runs with here


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.launch("billing", REFERRAL_BONUS=str(BONUS))
        stack.launch("gateway-bot", REFERRAL_BONUS_RUB=str(BONUS // 100))

    with running_stack(tmp_path_factory.mktemp("promo"), postgres_admin_url, build) as stack:
        yield stack


def kopecks(text: str) -> int:
    """``"1 234,50"`` (format_rub's number, no-break space, − sign) → 123450."""
    clean = text.replace("\u00a0", "").replace(" ", "").replace("−", "-").replace("+", "")
    whole, _, frac = clean.partition(",")
    sign = -1 if whole.startswith("-") else 1
    return int(whole) * 100 + sign * int(frac or 0)


_AMOUNT = r"([+−]?[\d\u00a0]+(?:,\d\d)?) ₽"


def is_invoice(message: TranscriptMessage) -> bool:
    return message.invoice is not None


async def pay(user: TelegramUserClient, invoice: TranscriptMessage) -> None:
    outcome = await user.pay_invoice(invoice.message_id)
    assert outcome.status == "paid", outcome
    await reply(user, contains("Баланс пополнен"))


async def ledger_rows(stack: Stack, user_id: int) -> list[tuple[str, int]]:
    """The user's ledger rows /history shows (a job's hold only while it runs), newest first."""
    assert stack.database_url is not None
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT kind, delta_balance FROM ledger WHERE user_id = $1 AND kind <> 'hold' ORDER BY id DESC",
            user_id,
        )
    finally:
        await conn.close()
    return [(row["kind"], row["delta_balance"]) for row in rows]


async def test_promo_codes_are_made_by_admins_and_redeemed_once_each(stack: Stack) -> None:
    async with stack.user() as first, stack.user() as second, stack.user() as third:
        await first.send_text("/promo_new FREE 10")
        await reply(first, contains("только администраторам"))

        async with stack.user(user_id=ADMIN_ID) as admin:
            await admin.send_text("/promo_new gift-2 25,50 2")
            made = await reply(admin, contains("Промокод создан"))
            assert "GIFT-2" in text_of(made) and "25,50 ₽ каждому" in text_of(made)
            assert "активаций 0 из 2, без срока" in text_of(made)
            await admin.send_text("/promo_new GIFT-2 999")
            await reply(admin, contains("уже есть, его условия не изменены"))
            await admin.send_text("/promo_new GIFT-3 10 5 01.01.2020")
            await reply(admin, contains("дата уже прошла"))
            await admin.send_text("/promo_new ПОДАРОК 10")
            await reply(admin, contains("латинские буквы"))

        await first.send_text("/promo gift-2")
        credited = await reply(first, contains("Промокод активирован"))
        assert "+25,50 ₽" in text_of(credited)
        await first.send_text("/promo GIFT-2")
        await reply(first, contains("уже активировали"))
        await second.send_text("/promo GIFT-2")
        await reply(second, contains("Промокод активирован"))
        await third.send_text("/promo GIFT-2")
        await reply(third, contains("максимальное число раз"))
        await third.send_text("/promo NOSUCHCODE")
        await reply(third, contains("Такого промокода нет"))
        await third.send_command("promo")
        await reply(third, contains("Отправьте промокод"))

        assert await balance_available(first) == WELCOME + 2550
        assert await balance_available(third) == WELCOME
        await first.send_command("history")
        history = await reply(first, contains("История операций"))
        assert "🎟 промокод +25,50 ₽ · баланс 55,50 ₽" in text_of(history)


async def test_typed_top_ups_and_the_referral_bonus(stack: Stack) -> None:
    async with stack.user() as inviter:
        await inviter.send_command("start")
        await reply(inviter, contains("Привет"))
        await inviter.send_command("invite")
        invitation = text_of(await reply(inviter, contains("Пригласите друга")))
        [payload] = re.findall(r"https://t\.me/\w+\?start=(ref_\d+)", invitation)
        assert payload == f"ref_{inviter.user_id}" and "вы получите 50 ₽" in invitation
        async with stack.user() as friend:
            await friend.send_text(f"/start {payload}")
            await reply(friend, contains("Привет"))

            # «✏️ Другая сумма»: an amount outside the limits is explained, a good one invoiced.
            await friend.send_text("💳 Пополнить")
            packs = await reply(friend, contains("Выберите сумму"))
            await press(friend, packs, "Другая сумма")
            await reply(friend, contains("Введите сумму пополнения"))
            await friend.send_text("10")
            await reply(friend, contains("Пополнить можно на сумму от 50 ₽ до 10\u00a0000 ₽"))
            await friend.send_text("120")
            invoice = await friend.wait_for_message(predicate=is_invoice, timeout=15)
            assert invoice.invoice is not None and invoice.invoice["total_amount"] == 80  # 12000 / 150
            await pay(friend, invoice)
            assert await balance_available(inviter) == WELCOME + BONUS

            # A second payment pays no second bonus.
            await friend.send_command("topup", "75")
            again = await friend.wait_for_message(
                predicate=lambda m: is_invoice(m) and m.message_id != invoice.message_id, timeout=15
            )
            await pay(friend, again)
            assert await balance_available(friend) == WELCOME + 12_000 + 7_500
            assert await balance_available(inviter) == WELCOME + BONUS

            await inviter.send_command("history")
            history = await reply(inviter, contains("История операций"))
            assert "🤝 бонус за приглашённого друга +50 ₽ · баланс 80 ₽" in text_of(history)


async def test_history_and_stats_agree_with_the_ledger_to_the_kopeck(stack: Stack) -> None:
    async with stack.user() as payer, stack.user(user_id=ADMIN_ID) as admin:
        await payer.send_command("topup", "99,99")
        invoice = await payer.wait_for_message(predicate=is_invoice, timeout=15)
        await pay(payer, invoice)
        await admin.send_text("/promo_new STATS-1 7,77 10")
        await reply(admin, contains("Промокод создан"))
        await payer.send_text("/promo stats-1")
        await reply(payer, contains("Промокод активирован"))

        # /history: every row the ledger has for the user, with its amount and the balance after it.
        await payer.send_command("history")
        history = text_of(await reply(payer, contains("История операций")))
        lines = [line for line in history.splitlines() if "баланс" in line]
        rows = await ledger_rows(stack, payer.user_id)
        assert len(lines) == len(rows) == 3
        balance = sum(delta for _, delta in rows)
        for line, (_, delta) in zip(lines, rows, strict=True):
            shown, after = re.findall(_AMOUNT, line)
            assert (kopecks(shown), kopecks(after)) == (delta, balance), line
            balance -= delta
        assert await balance_available(payer) == WELCOME + 9999 + 777

        # /stats: today's sums equal the ledger's, for every user of this stack.
        await admin.send_command("stats")
        stats = text_of(await reply(admin, contains("Статистика")))
        today = stats.split("\n\n")[1]
        assert today.startswith("<b>Сегодня</b>") or today.startswith("Сегодня"), today
        assert stack.database_url is not None
        conn = await asyncpg.connect(stack.database_url)
        try:
            sums = dict(await conn.fetch("SELECT kind, sum(delta_balance)::bigint FROM ledger GROUP BY kind"))
            users = await conn.fetchval("SELECT count(*) FROM users")
            paid = await conn.fetchval("SELECT count(DISTINCT user_id) FROM ledger WHERE kind = 'payment'")
        finally:
            await conn.close()
        revenue = sums.get("payment", 0) + sums.get("payment_refund", 0)
        assert f"новых {users}," in today and f"заплатили {paid}" in today
        [shown_revenue] = re.findall(r"Выручка: " + _AMOUNT, today)
        assert kopecks(shown_revenue) == revenue
        assert re.search(r"звёзды " + _AMOUNT, today).group(1) == shown_revenue  # type: ignore[union-attr]
        for label, kind in (("промокоды", "promo"), ("рефералы", "referral"), ("приветственные", "welcome")):
            [shown] = re.findall(label + " " + _AMOUNT, today)
            assert kopecks(shown) == sums[kind], label
        [margin] = re.findall(r"Маржа: выручка − себестоимость " + _AMOUNT, today)
        assert kopecks(margin) == revenue  # no job ran: nothing to pay the providers

        await payer.send_command("stats")
        await reply(payer, contains("только администраторам"))
