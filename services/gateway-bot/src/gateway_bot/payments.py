"""Top-ups with Telegram Stars, as plain functions the handlers call.

Billing owns the money: it prices a pack in Stars (its own rate), keeps the order whose id is the
invoice payload, checks it at pre-checkout, and credits the order's own amount once per
``telegram_payment_charge_id``. The gateway only carries what Telegram says between the two.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, PreCheckoutQuery, SuccessfulPayment
from medialab_contracts.errors import (
    Conflict,
    InsufficientFunds,
    MediaLabError,
    ServiceUnavailable,
    UnknownOrder,
)
from medialab_contracts.money import KOPECKS_PER_RUBLE, rubles
from medialab_contracts.payments import CHARGE_ID_PATTERN, StarsPaidReply
from medialab_runtime.backoff import retry_delay

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient

log = logging.getLogger(__name__)

STARS_CURRENCY = "XTR"
# Telegram's answer to refunding a charge twice: the Stars are back already, which is the goal.
_ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"
# About half a minute of billing outage before a payment is reported as not credited.
_CREDIT_ATTEMPTS = 6
_CREDIT_RETRY_BASE_S = 1.0
_CREDIT_RETRY_CAP_S = 8.0


def parse_charge_id(args: str | None) -> str | None:
    """The charge id of ``/refund_stars <id>``, or None when it is missing or malformed."""
    text = (args or "").strip()
    return text if re.fullmatch(CHARGE_ID_PATTERN, text) else None


def topup_for(missing: int, packs: list[int], low_rub: int, high_rub: int) -> int:
    """The top-up (rubles) to offer for a shortfall of ``missing`` kopecks: the smallest pack that
    covers it, else the shortfall itself in whole rubles, within the limits."""
    pack = next((rub for rub in packs if rubles(rub) >= missing), None)
    if pack is not None:
        return pack
    return min(max(-(-missing // KOPECKS_PER_RUBLE), low_rub), high_rub)


async def send_invoice(bot: Bot, billing: BillingClient, chat_id: int, user_id: int, amount: int) -> None:
    """An invoice for ``amount`` kopecks, priced in Stars by billing."""
    order = await billing.stars_order(user_id, amount)
    await bot.send_invoice(
        chat_id=chat_id,
        title=texts.INVOICE_TITLE,
        description=texts.invoice_description(order.amount),
        payload=order.order_id,
        currency=STARS_CURRENCY,
        prices=[LabeledPrice(label=texts.invoice_label(order.amount), amount=order.stars)],
    )


async def checkout_refusal(billing: BillingClient, query: PreCheckoutQuery) -> str | None:
    """Why this checkout must not go on (a text Telegram shows the user), or None: it may."""
    if query.currency != STARS_CURRENCY:
        return texts.CHECKOUT_NOT_PAYABLE
    try:
        await billing.stars_check(query.invoice_payload, query.from_user.id, query.total_amount)
    except (UnknownOrder, Conflict) as refused:
        log.info("checkout %s refused: %s", query.id, refused.message)
        return texts.CHECKOUT_NOT_PAYABLE
    except MediaLabError as error:
        log.warning("checkout %s not checked: %s", query.id, error.code)
        return texts.CHECKOUT_UNAVAILABLE
    return None


async def credit(billing: BillingClient, user_id: int, payment: SuccessfulPayment) -> StarsPaidReply:
    """Ask billing to credit the paid order; a repeated charge id credits nothing (``credited`` False).

    Telegram sends a successful_payment once: a billing restart must not lose it, so an unreachable
    billing is asked again (safe: the credit is keyed by the charge id) before giving up."""
    attempt = 1
    while True:
        try:
            return await billing.stars_paid(
                payment.invoice_payload, user_id, payment.total_amount, payment.telegram_payment_charge_id
            )
        except ServiceUnavailable:
            if attempt == _CREDIT_ATTEMPTS:
                raise
            log.warning("billing unreachable crediting %s; retrying", payment.telegram_payment_charge_id)
            await asyncio.sleep(retry_delay(attempt, _CREDIT_RETRY_BASE_S, _CREDIT_RETRY_CAP_S))
            attempt += 1


@dataclass(frozen=True)
class RefundOutcome:
    text: str  # for the admin


async def refund(bot: Bot, billing: BillingClient, admin_id: int, charge_id: str) -> RefundOutcome:
    """Debit the payment in billing (once), then give the Stars back. Billing goes first so the
    Stars never return while the money stays on the balance; repeating after a Telegram failure
    debits nothing again and retries the refund."""
    try:
        reply = await billing.stars_refund(admin_id, charge_id)
    except UnknownOrder:
        return RefundOutcome(texts.REFUND_UNKNOWN)
    except InsufficientFunds as spent:
        return RefundOutcome(texts.refund_spent(spent.data["available"], spent.data["price"]))
    order = reply.order
    try:
        await bot.refund_star_payment(user_id=order.user_id, telegram_payment_charge_id=charge_id)
    except TelegramBadRequest as error:
        if _ALREADY_REFUNDED not in error.message:
            log.warning("refundStarPayment of %s refused: %s", charge_id, error.message)
            return RefundOutcome(texts.refund_telegram_failed(error.message))
    return RefundOutcome(texts.refund_done(order.user_id, order.amount, order.stars, reply.debited))
