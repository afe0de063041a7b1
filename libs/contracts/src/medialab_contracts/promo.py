"""Request-reply messages of promo codes, referrals and the admins' statistics (``billing.promo.*``,
``billing.referral``, ``billing.stats``).

Billing owns every amount: a redemption credits the code's own amount (never one the message carries),
a referral bonus is fixed by billing's setting when the referral is recorded, and statistics are sums
of the ledger.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import Field, field_validator

from medialab_contracts.base import BusMessage
from medialab_contracts.billing import BalanceView
from medialab_contracts.jobs import TelegramId
from medialab_contracts.modes import Mode
from medialab_contracts.money import PositiveKopecks

# A code as stored: upper case Latin letters, digits, "_" and "-". Users may type it in any case.
PROMO_CODE_PATTERN = r"^[A-Z0-9_-]{3,32}$"
MAX_PROMO_USES = 1_000_000


def normalize_code(code: str) -> str:
    return code.strip().upper()


class PromoCreateRequest(BusMessage):
    admin_id: TelegramId
    code: str = Field(pattern=PROMO_CODE_PATTERN)
    amount: PositiveKopecks  # credited to each user who redeems it
    max_uses: int = Field(default=1, ge=1, le=MAX_PROMO_USES)  # redemptions in total
    expires_at: datetime | None = None  # redeemable strictly before this moment

    @field_validator("code", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return normalize_code(value) if isinstance(value, str) else value


class PromoView(BusMessage):
    code: str
    amount: int
    max_uses: int
    uses: int
    expires_at: datetime | None
    created: bool  # False: the code existed already (these are its terms, not the request's)


class PromoRedeemRequest(BusMessage):
    user_id: TelegramId
    code: str = Field(max_length=64)  # as the user typed it; billing normalizes it


class PromoOutcome(StrEnum):
    credited = "credited"
    unknown = "unknown"  # no such code
    expired = "expired"
    used_up = "used_up"  # all its redemptions are taken
    already_used = "already_used"  # this user redeemed it before


class PromoRedeemReply(BusMessage):
    outcome: PromoOutcome
    amount: int = 0  # credited now (outcome credited)
    balance: BalanceView | None = None  # after the credit (outcome credited)


class ReferralRequest(BusMessage):
    """``/start ref_<referrer>``: record who brought this user (only while referral bonuses are on,
    for a user who has not paid yet and has no referrer)."""

    user_id: TelegramId
    referrer_id: TelegramId


class ReferralReply(BusMessage):
    recorded: bool


class StatsRequest(BusMessage):
    admin_id: TelegramId


class StatsPeriod(BusMessage):
    """One period's sums of the ledger, kopecks. ``days`` 1 is today (Moscow)."""

    days: int
    since: datetime  # midnight, Moscow time, ``days - 1`` days ago
    new_users: int
    active_users: int  # users who launched a job
    paid_users: int  # users who paid (any method)
    jobs: dict[Mode, int]  # jobs charged, by mode
    charged: int  # charged for jobs, less refunds of undelivered results
    revenue: dict[str, int]  # money paid in, by method (stars, yookassa), less payment refunds
    credits: dict[str, int]  # credits that are not revenue: promo, referral, welcome, admin
    provider_cost: int  # what the providers bill for the charged jobs (list prices)

    @property
    def total_revenue(self) -> int:
        return sum(self.revenue.values())

    @property
    def margin(self) -> int:
        """Money paid in less what the providers bill."""
        return self.total_revenue - self.provider_cost

    @property
    def jobs_margin(self) -> int:
        """What the jobs were charged less what the providers bill for them."""
        return self.charged - self.provider_cost


class StatsReply(BusMessage):
    periods: list[StatsPeriod]
