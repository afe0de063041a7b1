"""Prometheus metrics of the billing service (request latency is runtime's ``medialab_rpc_seconds``)."""

from medialab_contracts.events import FailureReason
from prometheus_client import Counter, Gauge, Histogram

# Money movements by mode (create, edit, …), so revenue and refunds can be read per product.
RESERVATIONS = Counter("medialab_billing_reservations_total", "Reservations (holds) made", ["mode"])
RESERVED_KOPECKS = Counter("medialab_billing_reserved_kopecks_total", "Kopecks put on hold", ["mode"])
CHARGES = Counter("medialab_billing_charges_total", "Operations charged", ["mode"])
CHARGED_KOPECKS = Counter("medialab_billing_charged_kopecks_total", "Kopecks charged (revenue)", ["mode"])
RELEASES = Counter(
    "medialab_billing_releases_total", "Reservations released, by reason and mode", ["reason", "mode"]
)
RELEASED_KOPECKS = Counter("medialab_billing_released_kopecks_total", "Kopecks released (refunds)", ["mode"])
TOPUPS = Counter("medialab_billing_topups_total", "Admin top-ups applied")
TOPUP_KOPECKS = Counter("medialab_billing_topup_kopecks_total", "Kopecks credited by admins")
PAYMENTS = Counter("medialab_billing_payments_total", "Payments credited", ["method"])
PAYMENT_KOPECKS = Counter(
    "medialab_billing_payment_kopecks_total", "Kopecks credited by payments", ["method"]
)
# The business row: revenue is PAYMENT_KOPECKS by method; promo credits are not revenue; the provider
# cost is what each charged job's provider bills at list price (margin = revenue − cost, a rule).
PROMO_REDEMPTIONS = Counter("medialab_billing_promo_redemptions_total", "Promo codes redeemed")
PROMO_KOPECKS = Counter("medialab_billing_promo_kopecks_total", "Kopecks credited by promo codes")
PROVIDER_COST_KOPECKS = Counter(
    "medialab_billing_provider_cost_kopecks_total",
    "Provider cost of charged jobs at list prices, kopecks, by mode",
    ["mode"],
)
PAID_USERS = Gauge("medialab_billing_paid_users", "Users who ever paid, any method (last audit)")
PAYMENT_REFUNDS = Counter("medialab_billing_payment_refunds_total", "Payments refunded (debited)", ["method"])
USERS_CREATED = Counter("medialab_billing_users_created_total", "Users created (each got the welcome credit)")
REFUSALS = Counter(
    "medialab_billing_refusals_total", "Requests refused, by endpoint and error code", ["endpoint", "reason"]
)
SAGA_EVENTS = Counter(
    "medialab_billing_saga_events_total",
    "Job events handled by the saga, by kind and outcome",
    ["kind", "outcome"],
)
SWEPT = Counter(
    "medialab_billing_swept_total", "PENDING operations released by the sweeper after their deadline"
)
JOBS_HANDED_OVER = Counter(
    "medialab_billing_jobs_handed_over_total",
    "Reserved jobs billing published because their caller never did (it died in between)",
)
PENDING = Gauge("medialab_billing_pending_reservations", "Operations PENDING now")
PENDING_KOPECKS = Gauge("medialab_billing_pending_kopecks", "Kopecks held by PENDING operations now")
LEDGER_CONSISTENT = Gauge(
    "medialab_billing_ledger_consistent", "1 if every balance equals the sum of its ledger rows (last check)"
)
LEDGER_MISMATCHES = Gauge(
    "medialab_billing_ledger_mismatches", "Accounts and operations that broke the invariant (last check)"
)
LEDGER_CHECKED = Gauge("medialab_billing_ledger_check_timestamp_seconds", "When the ledger was last checked")
POSTGRES_UP = Gauge("medialab_billing_postgres_up", "1 while PostgreSQL answers")
DB_SECONDS = Histogram(
    "medialab_billing_db_seconds",
    "Time spent on one money operation in PostgreSQL, by operation",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

_KNOWN_REASONS = frozenset(FailureReason)


def release_reason_label(reason: str) -> str:
    """Free-text reasons (from release requests) would explode the label set; unknown ones are "other"."""
    return reason if reason in _KNOWN_REASONS else "other"


FORGOTTEN_USERS = Counter("medialab_billing_forgotten_users_total", "Users whose content /delete_me dropped")
RETAINED_JOBS_DROPPED = Counter(
    "medialab_billing_retention_jobs_dropped_total", "Stored jobs whose content the retention sweep dropped"
)
