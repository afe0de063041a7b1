"""Bot API payment methods for Telegram Stars: sendInvoice, answerPreCheckoutQuery, refundStarPayment.

Only digital goods paid in Stars are emulated: currency ``XTR``, an empty ``provider_token`` and
exactly one price in whole Stars. Telegram answers other currencies without a provider with
``PAYMENT_PROVIDER_INVALID`` and a malformed Stars invoice (several prices, tips) with
``STARS_INVOICE_INVALID``.
"""

from __future__ import annotations

from typing import Any

from .config import MAX_STARS_PER_INVOICE, STARS_CURRENCY
from .context import MethodContext, MethodTable
from .errors import bad_request
from .markup import parse_reply_markup
from .objects import Invoice, RefundedPayment

METHODS = MethodTable()

_MAX_TITLE = 32
_MAX_DESCRIPTION = 255
_MAX_PAYLOAD_BYTES = 128
_MAX_ERROR_MESSAGE = 255
_TIP_FIELDS = ("max_tip_amount", "suggested_tip_amounts")


def _stars_amount(ctx: MethodContext) -> int:
    prices = ctx.params.json("prices", "can't parse prices JSON object")
    if not isinstance(prices, list) or not prices:
        raise bad_request("can't parse prices JSON object")
    if len(prices) != 1:
        raise bad_request("STARS_INVOICE_INVALID")
    [price] = prices
    if not isinstance(price, dict) or not isinstance(price.get("label"), str):
        raise bad_request("can't parse prices JSON object")
    amount = price.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise bad_request("can't parse prices JSON object")
    if not 1 <= amount <= MAX_STARS_PER_INVOICE:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    return amount


def _checked_text(value: str | None, limit: int, error: str) -> str:
    text = (value or "").strip()
    if not 1 <= len(text) <= limit:
        raise bad_request(error)
    return text


@METHODS.register("sendInvoice")
async def send_invoice(ctx: MethodContext) -> dict[str, Any]:
    params = ctx.params
    chat = ctx.target_chat()
    title = _checked_text(params.text("title"), _MAX_TITLE, "INVOICE_TITLE_INVALID")
    description = _checked_text(params.text("description"), _MAX_DESCRIPTION, "INVOICE_DESCRIPTION_INVALID")
    payload = params.text("payload") or ""
    if not 1 <= len(payload.encode()) <= _MAX_PAYLOAD_BYTES:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if params.text("currency") != STARS_CURRENCY or params.text("provider_token"):
        # Real currencies need a payment provider, which the emulator does not have.
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    if any(params.raw(name) not in (None, "", 0, "0", "[]", []) for name in _TIP_FIELDS):
        raise bad_request("STARS_INVOICE_INVALID")
    amount = _stars_amount(ctx)
    markup = parse_reply_markup(params.raw("reply_markup"), inline_only=True)
    if markup is not None and not markup["inline_keyboard"][0][0].get("pay"):
        raise bad_request("REPLY_MARKUP_BUY_EMPTY")
    invoice = Invoice(
        title=title,
        description=description,
        start_parameter=params.text("start_parameter") or "",
        currency=STARS_CURRENCY,
        total_amount=amount,
    )
    reply_to = ctx.reply_target(chat)
    ctx.charge(chat.id)
    record = ctx.bot.add_message(
        chat, sender=ctx.bot.user, from_bot=True, markup=markup, reply_to=reply_to, invoice=invoice
    )
    ctx.bot.invoice_payloads[(chat.id, record.message.message_id)] = payload
    return record.message.to_api()


@METHODS.register("answerPreCheckoutQuery")
async def answer_pre_checkout_query(ctx: MethodContext) -> bool:
    params = ctx.params
    record = ctx.bot.pre_checkouts.get(params.text("pre_checkout_query_id") or "")
    if record is None or record.answered:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    if params.raw("ok") is None:
        raise bad_request('parameter "ok" is required')
    ok = params.flag("ok")
    error_message = params.text("error_message")
    if not ok and not (error_message or "").strip():
        raise bad_request("ERROR_MESSAGE_EMPTY")
    if error_message is not None and len(error_message) > _MAX_ERROR_MESSAGE:
        raise bad_request("ERROR_MESSAGE_TOO_LONG")
    record.answered, record.ok, record.error_message = True, ok, None if ok else error_message
    record.signal.bump()
    return True


@METHODS.register("refundStarPayment")
async def refund_star_payment(ctx: MethodContext) -> bool:
    params = ctx.params
    user_id = params.integer("user_id", "USER_ID_INVALID")
    if user_id is None:
        raise bad_request('parameter "user_id" is required')
    charge_id = params.text("telegram_payment_charge_id") or ""
    stored = ctx.bot.payments.get(charge_id)
    if stored is None or stored.user_id != user_id:
        raise bad_request("CHARGE_NOT_FOUND")
    if stored.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    stored.refunded = True
    chat = ctx.bot.chats[stored.chat_id]
    paid = stored.payment
    # Telegram tells the bot with a service message in the user's chat (Bot API 7.10+).
    message = ctx.bot.add_message(
        chat,
        sender=ctx.world.user(user_id),
        from_bot=False,
        refunded_payment=RefundedPayment(
            currency=paid.currency,
            total_amount=paid.total_amount,
            invoice_payload=paid.invoice_payload,
            telegram_payment_charge_id=paid.telegram_payment_charge_id,
        ),
    )
    ctx.bot.updates.push(message=message.message)
    return True
