"""Every NATS name in one place: streams, subjects, consumers, buckets, request-reply endpoints."""

from medialab_contracts.modes import Mode, Runner

# JetStream streams
JOBS_STREAM = "JOBS"
JOBS_SUBJECTS = "jobs.>"
EVENTS_STREAM = "EVENTS"
EVENTS_SUBJECTS = "events.>"
# JetStream's MAX_DELIVERIES advisories of JOBS consumers, kept so none is missed while a watcher is away
ADVISORIES_STREAM = "ADVISORIES"
DEAD_LETTER_SUBJECT_PREFIX = "events.deadletter"

# Durable consumers
FAL_RUNNER_CONSUMER = "fal-runner"
WAVESPEED_RUNNER_CONSUMER = "wavespeed-runner"
TEXT_RENDER_CONSUMER = "text-render"
PROMPT_LLM_CONSUMER = "prompt-llm"  # M2 jobs (jobs.llm.prompt)
BILLING_SAGA_CONSUMER = "billing-saga"
GATEWAY_DELIVERY_CONSUMER = "gateway-delivery"
GATEWAY_PAYMENTS_CONSUMER = "gateway-payments"  # credited YooKassa top-ups, told to the user

# Object store and key-value buckets
MEDIA_BUCKET = "media"
# Uploads not yet bound to a job: the gateway's intake stores here; the bucket's TTL (at most an hour)
# removes what no job took. Launching a job copies its uploads into ``media``.
UPLOADS_BUCKET = "uploads"
FSM_BUCKET = "fsm"
ALBUMS_BUCKET = "albums"
SLOTS_BUCKET = "slots"
JOB_STATE_BUCKET = "jobstate"
LLM_CACHE_BUCKET = "llmcache"
TELEGRAM_LIMITS_BUCKET = "tglimits"
# gateway-bot's own records: status messages, delivered jobs, seen updates, a flow's uploaded inputs
GATEWAY_BUCKET = "gateway"
# «🖼 Мои работы»: a record per delivered job (``work.<user_id>.<job_id>``: its order, price, seed and
# the Telegram file_id of each output) and a copy of each output kept as long (WORKS_TTL_S), since
# ``media`` keeps results only a week. Both are the gateway's; /delete_me empties them for the user.
WORKS_BUCKET = "works"
KEPT_BUCKET = "kept"
# The gateway's per-user language (``locale.<user_id>``): /language or Telegram's language_code. No TTL.
LOCALES_BUCKET = "locales"

# Request-reply (core NATS, nats.micro services)
BILLING_ENSURE_USER = "billing.ensure_user"
BILLING_RESERVE = "billing.reserve"
BILLING_SETTLE = "billing.settle"
BILLING_RELEASE = "billing.release"
BILLING_REFUND = "billing.refund"
BILLING_BALANCE = "billing.balance"
BILLING_HISTORY = "billing.history"
BILLING_TOPUP = "billing.topup"
BILLING_OPERATION = "billing.operation"
# /delete_me: the user's names and stored jobs dropped; ledger amounts kept.
BILLING_FORGET = "billing.forget"
# ❌ Отменить under a job's status: the gateway asks for its owner (checked there and here); billing
# marks the job cancelled in ``jobstate`` and releases it at once if no runner has started it, or
# leaves the cancel to the runner (at the provider) otherwise.
BILLING_CANCEL = "billing.cancel"
# Telegram Stars top-ups: the gateway orders, checks at pre-checkout, reports the payment, refunds.
BILLING_STARS_ORDER = "billing.stars.order"
BILLING_STARS_CHECK = "billing.stars.check"
BILLING_STARS_PAID = "billing.stars.paid"
BILLING_STARS_REFUND = "billing.stars.refund"
# Promo codes (an admin makes one, a user redeems it), the referrer of a new user, the admins' /stats.
BILLING_PROMO_CREATE = "billing.promo.create"
BILLING_PROMO_REDEEM = "billing.promo.redeem"
BILLING_REFERRAL = "billing.referral"
BILLING_STATS = "billing.stats"
# YooKassa top-ups: only the payments service calls these (it re-reads every payment from YooKassa).
BILLING_YOOKASSA_ORDER = "billing.yookassa.order"
BILLING_YOOKASSA_ATTACH = "billing.yookassa.attach"
BILLING_YOOKASSA_PAID = "billing.yookassa.paid"
BILLING_YOOKASSA_CANCEL = "billing.yookassa.cancel"
BILLING_YOOKASSA_PENDING = "billing.yookassa.pending"
BILLING_YOOKASSA_REFUND = "billing.yookassa.refund"
# The payments service: a payment link for the gateway, an admin's refund.
PAYMENTS_YOOKASSA_CREATE = "payments.yookassa.create"
PAYMENTS_YOOKASSA_REFUND = "payments.yookassa.refund"
LLM_WRITE_PROMPT = "llm.write_prompt"
LLM_TRANSLATE = "llm.translate"
LLM_PARSE_STYLE = "llm.parse_style"
FAL_LLM = "fal.llm"

EVENT_KINDS = ("accepted", "progress", "succeeded", "failed")
# A top-up credited (YooKassa): the gateway tells the user. On the EVENTS stream, deduplicated by
# the payment id, so a payment is announced once.
PAYMENT_EVENTS_FILTER = "events.payment.>"


def payment_credited_subject(user_id: int) -> str:
    return f"events.payment.{user_id}.credited"


def job_subject(runner: Runner, mode: Mode) -> str:
    return f"jobs.{runner}.{mode}"


def runner_filter(runner: Runner) -> str:
    return f"jobs.{runner}.>"


def event_subject(job_id: str, kind: str) -> str:
    return f"events.job.{job_id}.{kind}"


def event_msg_id(job_id: str, kind: str) -> str:
    """JetStream dedup id of a final event: a job succeeds or fails at most once on the stream."""
    return f"{job_id}:{kind}"


FINAL_EVENTS_FILTERS = ("events.job.*.succeeded", "events.job.*.failed")
ALL_JOB_EVENTS_FILTER = "events.job.>"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JOBS.*"


def max_deliveries_advisory(consumer: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS_STREAM}.{consumer}"
