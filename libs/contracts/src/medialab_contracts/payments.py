"""Request-reply messages of top-ups paid with Telegram Stars (``billing.stars.*``).

Billing owns the money side: it turns a ruble amount into a Star price with its own rate, keeps the
order, and credits the order's amount (never an amount the message carries) once per
``telegram_payment_charge_id``.
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
