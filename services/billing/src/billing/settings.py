"""Configuration of the billing service, read from the environment (``DATABASE_URL``, ``ADMIN_IDS``, …)."""

from __future__ import annotations

import math
from typing import Annotated, Self

from medialab_contracts.billing import WELCOME_CREDIT
from medialab_contracts.catalog import DEFAULT_DEADLINE_S
from medialab_contracts.modes import Mode
from medialab_contracts.money import MAX_AMOUNT
from medialab_contracts.payments import MAX_STARS_PER_INVOICE
from medialab_runtime.settings import AdminIds, JobSigningSettings
from pydantic import Field, SecretStr, model_validator


class BillingSettings(JobSigningSettings):
    # A DSN usually carries a password: SecretStr keeps it out of reprs and logs.
    database_url: SecretStr
    # Telegram ids allowed to top up balances; env ADMIN_IDS as a JSON list "[1, 2]" or "1,2".
    admin_ids: AdminIds = frozenset()

    pool_min_size: int = Field(default=4, ge=0, le=200)
    # Every money movement is one statement whose cost is mostly the commit's WAL flush; PostgreSQL
    # flushes the commits waiting together in one go, so more connections mean more commits per
    # flush (the bench: ~3× the pairs/s of 10 connections on a slow disk).
    pool_max_size: int = Field(default=32, ge=1, le=200)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_command_timeout_s: float = Field(default=5.0, gt=0)

    # Price overrides in kopecks by catalog model key, e.g. {"nbp": 3000}: billing's own price list,
    # the only one money follows (the gateway's PRICES only shows prices; keep the two equal).
    prices: dict[str, int] = Field(default_factory=dict)

    welcome_credit: int = Field(default=WELCOME_CREDIT, ge=0, le=MAX_AMOUNT)
    # Per-user quota (issue 17 item 4): jobs reserved and not yet finished at once.
    max_jobs_in_flight: int = Field(default=10, ge=1, le=10_000)
    # A top-up that would lift a balance above this is refused (BadAmount): a typo guard.
    max_balance: int = Field(default=10 * MAX_AMOUNT, ge=0)

    # How long a reservation may stay PENDING: the reserve request's deadline_s, else the mode's
    # default here, plus the grace (the runner gives up at the deadline; billing waits a bit longer).
    mode_deadlines_s: dict[Mode, int] = Field(default_factory=lambda: dict(DEFAULT_DEADLINE_S))
    deadline_grace_s: int = Field(default=120, ge=0)
    sweeper_interval_s: float = Field(default=5.0, gt=0)
    sweeper_batch: int = Field(default=100, ge=1, le=10_000)
    # A reservation still PENDING this long has its job published again (deduplicated by job id);
    # far below the JOBS stream's dedup window (1 h), so a published job is never run twice.
    handoff_after_s: float = Field(default=10.0, gt=0, le=600)

    # Telegram Stars top-ups: kopecks credited per Star paid (the rate), and the amounts a user may
    # top up by at once (kopecks). An invoice holds at most 10000 Stars.
    stars_rate_kopecks: int = Field(default=150, ge=1, le=100_000)
    stars_min_topup: int = Field(default=5_000, ge=1, le=MAX_AMOUNT)
    stars_max_topup: int = Field(default=1_000_000, ge=1, le=MAX_AMOUNT)

    # Referral bonus, kopecks, paid to whoever brought a user (/start ref_<id>) when that user first
    # pays; 0 turns referrals off. Only users registered within the window may be referred.
    referral_bonus: int = Field(default=0, ge=0, le=MAX_AMOUNT)
    referral_window_s: int = Field(default=86_400, ge=60)

    # Provider cost of a job for /stats and the business dashboard: the catalog's list price in
    # dollars at this rate (kopecks per US dollar), or an override in kopecks per job by model key.
    usd_rate_kopecks: int = Field(default=9_500, ge=1, le=1_000_000)
    provider_costs: dict[str, Annotated[int, Field(ge=0, le=MAX_AMOUNT)]] = Field(default_factory=dict)
    # YooKassa top-ups (kopecks): the amounts a user may pay at once.
    yookassa_min_topup: int = Field(default=5_000, ge=100, le=MAX_AMOUNT)
    yookassa_max_topup: int = Field(default=1_000_000, ge=100, le=MAX_AMOUNT)

    consistency_interval_s: float = Field(default=60.0, gt=0)

    # Stored jobs (prompts, input names, overlay texts) older than this lose their content; the
    # money rows stay. Checked every retention interval (docs/PRIVACY.md).
    retention_days: int = Field(default=90, ge=1, le=3650)
    retention_interval_s: float = Field(default=3600.0, gt=0)

    saga_batch: int = Field(default=32, ge=1, le=1000)
    saga_ack_wait_s: float = Field(default=30.0, gt=0)
    saga_max_deliver: int = Field(default=20, ge=1)
    saga_retry_delay_s: float = Field(default=2.0, gt=0)
    # How long one fetch waits for events; also how long a stop may wait for the saga.
    saga_fetch_timeout_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _stars_limits_fit_an_invoice(self) -> Self:
        if self.stars_min_topup > self.stars_max_topup:
            raise ValueError("STARS_MIN_TOPUP must not exceed STARS_MAX_TOPUP")
        if math.ceil(self.stars_max_topup / self.stars_rate_kopecks) > MAX_STARS_PER_INVOICE:
            raise ValueError(f"STARS_MAX_TOPUP needs more than {MAX_STARS_PER_INVOICE} Stars at this rate")
        if self.yookassa_min_topup > self.yookassa_max_topup:
            raise ValueError("YOOKASSA_MIN_TOPUP must not exceed YOOKASSA_MAX_TOPUP")
        return self

    def deadline_s(self, mode: Mode, requested: int | None) -> int:
        base = (
            requested if requested is not None else self.mode_deadlines_s.get(mode, DEFAULT_DEADLINE_S[mode])
        )
        return base + self.deadline_grace_s
