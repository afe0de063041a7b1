"""Top-ups with Telegram Stars, end to end: 💳 Пополнить → a pack → the invoice → pay → the balance
grows once, whatever Telegram redelivers and even across a gateway restart; /history shows it; an
admin's /refund_stars gives the Stars back and debits once.

Gateway and billing as subprocesses, a real nats-server and PostgreSQL, the Telegram emulator over
HTTP (its Stars payments: pre-checkout, successful_payment, refundStarPayment).
"""

from __future__ import annotations

from collections.abc import Iterator

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
PACK = 10_000  # the 100 ₽ button
PACK_STARS = 67  # billing's default rate: 150 kopecks per Star, rounded up


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.launch("billing")
        stack.launch("gateway-bot")

    with running_stack(tmp_path_factory.mktemp("stars"), postgres_admin_url, build) as stack:
        yield stack


def is_invoice(message: TranscriptMessage) -> bool:
    return message.invoice is not None


async def invoice_for(user: TelegramUserClient, pack: str = "100 ₽") -> TranscriptMessage:
    await user.send_text("💳 Пополнить")
    packs = await reply(user, contains("Выберите сумму"))
    await press(user, packs, pack)
    return await user.wait_for_message(predicate=is_invoice, timeout=15)


async def credited_messages(user: TelegramUserClient) -> list[str]:
    return [text_of(m) for m in await user.bot_messages() if "Баланс пополнен" in text_of(m)]


async def test_paying_with_stars_credits_once_across_duplicates_and_a_restart(stack: Stack) -> None:
    async with stack.user() as user, stack.control() as control:
        invoice = await invoice_for(user)
        assert invoice.invoice is not None
        assert (invoice.invoice["currency"], invoice.invoice["total_amount"]) == ("XTR", PACK_STARS)

        outcome = await user.pay_invoice(invoice.message_id)
        assert outcome.status == "paid", outcome
        charge_id = outcome.telegram_payment_charge_id
        assert charge_id is not None
        done = await reply(user, contains("Баланс пополнен"))
        assert "Баланс пополнен на 100 ₽" in text_of(done)
        assert await balance_available(user) == WELCOME + PACK

        # Telegram delivers the same payment again: nothing more is credited.
        await control.redeliver_payment(charge_id)
        await user.send_command("ping")
        await reply(user, contains("Понг"))  # the duplicate before it was handled by now
        assert await balance_available(user) == WELCOME + PACK

        # ...and again after the gateway restarted (no memory of the first in the new process).
        stack.service("gateway-bot").restart(timeout=90)
        await control.redeliver_payment(charge_id)
        await user.send_command("ping")
        await reply(user, contains("Понг"))
        assert await balance_available(user) == WELCOME + PACK
        assert len(await credited_messages(user)) == 1

        # The paid invoice cannot be paid a second time.
        again = await user.pay_invoice(invoice.message_id)
        assert again.status == "declined" and "уже оплачен" in (again.error_message or "")

        await user.send_command("history")
        history = await reply(user, contains("История операций"))
        assert "⭐ пополнение звёздами +100 ₽ · баланс 130 ₽" in text_of(history)

        async with stack.user(user_id=ADMIN_ID) as admin:
            await admin.send_text(f"/refund_stars {charge_id}")
            refunded = await reply(admin, contains("Возвращено"))
            assert f"Возвращено {PACK_STARS} ⭐ пользователю {user.user_id}" in text_of(refunded)
            await reply(user, contains("Звёзды за пополнение возвращены"))
            assert await balance_available(user) == WELCOME

            # Repeating the command debits nothing again (Telegram: CHARGE_ALREADY_REFUNDED).
            await admin.send_text(f"/refund_stars {charge_id}")
            repeated = await reply(admin, contains("списание было сделано раньше"))
            assert "Возвращено" in text_of(repeated)
        assert await balance_available(user) == WELCOME


async def test_a_refund_needs_an_admin_and_a_payment(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_text("/refund_stars stxNOPE")
        await reply(user, contains("только администраторам"))
        await user.send_command("paysupport")
        support = await reply(user, contains("Помощь с оплатой"))
        assert "ID платежа" in text_of(support)
    async with stack.user(user_id=ADMIN_ID) as admin:
        await admin.send_text("/refund_stars stxNOPE")
        await reply(admin, contains("не найден"))
        await admin.send_text("/refund_stars")
        await reply(admin, contains("Использование"))
