"""Request-reply messages of top-ups: Telegram Stars (``billing.stars.*``) and YooKassa
(``payments.yookassa.*`` from the gateway, ``billing.yookassa.*`` from the payments service).

Billing owns the money side: it turns a ruble amount into a Star price with its own rate, keeps the
orders, and credits an order's amount (never an amount the message carries) once per external id:
``telegram_payment_charge_id`` for Stars, the YooKassa payment id for YooKassa. A YooKassa credit
carries the amount YooKassa answered for the payment only so billing can check it against the order.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from medialab_contracts.base import BusMessage
from medialab_contracts.billing import BalanceView
from medialab_contracts.jobs import TelegramId
from medialab_contracts.money import PositiveKopecks

MAX_STARS_PER_INVOICE = 10_000  # Telegram's limit on one Stars invoice
ORDER_ID_PATTERN = r"^[0-9a-f]{32}$"
# Telegram's charge ids are opaque (Stars ones look like "stx" + URL-safe characters): any printable
# ASCII without spaces is accepted, bounded in length.
CHARGE_ID_PATTERN = r"^[\x21-\x7e]{1,256}$"


class OrderStatus(StrEnum):
    pending = "PENDING"  # invoice sent, not paid
    paid = "PAID"  # credited
    refunded = "REFUNDED"  # paid, then given back (debited)
    cancelled = "CANCELLED"  # YooKassa: the payment was canceled (declined, abandoned, expired)


class StarsOrderRequest(BusMessage):
    user_id: TelegramId
    amount: PositiveKopecks  # what the user wants on the balance; billing checks its limits


class StarsOrder(BusMessage):
    order_id: str = Field(pattern=ORDER_ID_PATTERN)  # the invoice payload
    user_id: TelegramId
    amount: int  # kopecks credited once it is paid
    stars: int = Field(gt=0)  # the invoice's price
    status: OrderStatus
    created_at: datetime
    charge_id: str | None = None


class StarsCheckRequest(BusMessage):
    """The pre-checkout: may this user pay this many Stars for this order now?"""

    order_id: str = Field(max_length=128)  # an invoice payload as Telegram returned it
    user_id: TelegramId
    stars: int


class StarsPaidRequest(BusMessage):
    order_id: str = Field(max_length=128)
    user_id: TelegramId
    stars: int
    charge_id: str = Field(pattern=CHARGE_ID_PATTERN)  # telegram_payment_charge_id


class StarsPaidReply(BusMessage):
    order: StarsOrder
    balance: BalanceView
    credited: bool  # False: this charge was credited before (a duplicate update)


class StarsRefundRequest(BusMessage):
    admin_id: TelegramId
    charge_id: str = Field(pattern=CHARGE_ID_PATTERN)


class StarsRefundReply(BusMessage):
    order: StarsOrder
    balance: BalanceView
    debited: bool  # False: this charge was refunded before


# ── YooKassa ─────────────────────────────────────────────────────────────────────────────────────
# YooKassa payment ids are 36 characters (a UUID-like "2f8a1c3e-000f-5000-8000-1b2c3d4e5f60").
YOOKASSA_PAYMENT_ID_PATTERN = r"^[0-9a-zA-Z-]{36}$"
# Deliberately simple: one "@", a dot in the domain, no spaces; YooKassa validates it again.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
MAX_EMAIL_LENGTH = 254


class YooKassaTopupRequest(BusMessage):
    """Gateway → payments (``payments.yookassa.create``): a payment link for this top-up."""

    user_id: TelegramId
    amount: PositiveKopecks
    # The receipt's e-mail; None: the one billing stored for the user (EmailRequired if none).
    email: str | None = Field(default=None, max_length=MAX_EMAIL_LENGTH, pattern=EMAIL_PATTERN)


class YooKassaTopupLink(BusMessage):
    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    amount: int
    payment_id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)
    confirmation_url: str = Field(max_length=2048)


class YooKassaOrderRequest(BusMessage):
    """Payments → billing (``billing.yookassa.order``): a pending order; the e-mail is stored."""

    user_id: TelegramId
    amount: PositiveKopecks
    email: str | None = Field(default=None, max_length=MAX_EMAIL_LENGTH, pattern=EMAIL_PATTERN)


class YooKassaOrder(BusMessage):
    order_id: str = Field(pattern=ORDER_ID_PATTERN)  # the payment's Idempotence-Key and metadata
    user_id: TelegramId
    amount: int  # kopecks: what is charged and, once paid, credited
    status: OrderStatus
    created_at: datetime
    email: str | None = None  # the receipt's e-mail: only in the reply that made the order
    payment_id: str | None = None  # YooKassa's, once the payment exists


class YooKassaAttachRequest(BusMessage):
    """The YooKassa payment made for an order (``billing.yookassa.attach``)."""

    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    payment_id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)


class YooKassaPaidRequest(BusMessage):
    """A payment YooKassa's API answered ``succeeded`` (``billing.yookassa.paid``)."""

    order_id: str = Field(max_length=128)  # from the payment's metadata as YooKassa returned it
    payment_id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)
    amount: int  # kopecks, as YooKassa answered: must equal the order's
    currency: str = Field(max_length=3)


class YooKassaCancelRequest(BusMessage):
    """A payment YooKassa's API answered ``canceled`` (``billing.yookassa.cancel``)."""

    order_id: str = Field(max_length=128)
    payment_id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)


class YooKassaSettled(BusMessage):
    order: YooKassaOrder
    balance: BalanceView
    moved: bool  # False: this payment was credited (or cancelled) before; nothing changed


class YooKassaPendingRequest(BusMessage):
    """Orders still pending with a payment made at least ``older_than_s`` ago (the reconcile)."""

    older_than_s: float = Field(ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


class YooKassaPendingReply(BusMessage):
    orders: list[YooKassaOrder]


class YooKassaRefundRequest(BusMessage):
    """An admin's refund (``payments.yookassa.refund``, forwarded to ``billing.yookassa.refund``)."""

    admin_id: TelegramId
    payment_id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)


class YooKassaRefundReply(BusMessage):
    order: YooKassaOrder
    balance: BalanceView
    debited: bool  # False: this payment was refunded (debited) before


class PaymentCredited(BusMessage):
    """A YooKassa top-up credited: published once per payment (EVENTS stream, deduplicated by its
    id) for the gateway to tell the user."""

    user_id: TelegramId
    amount: int  # kopecks credited
    payment_id: str = Field(pattern=YOOKASSA_PAYMENT_ID_PATTERN)
    available: int  # the user's available balance right after the credit
