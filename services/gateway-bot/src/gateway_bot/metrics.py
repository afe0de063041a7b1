"""The gateway's Prometheus metrics (``medialab_gateway_*``)."""

from prometheus_client import Counter, Histogram

UPDATES = Counter("medialab_gateway_updates_total", "Telegram updates received, by type", ["type"])
DUPLICATE_UPDATES = Counter("medialab_gateway_duplicate_updates_total", "Updates dropped as already seen")
THROTTLED_UPDATES = Counter(
    "medialab_gateway_throttled_updates_total", "Updates dropped because their user sent too many too fast"
)
JOBS_STARTED = Counter("medialab_gateway_jobs_started_total", "Jobs reserved and queued, by mode", ["mode"])
JOBS_REFUSED = Counter(
    "medialab_gateway_jobs_refused_total", "Jobs not started, by reason (funds, translate, ...)", ["reason"]
)
DELIVERY_LATENCY = Histogram(
    "medialab_gateway_delivery_latency_seconds",
    "From a job's final event to the user having the result, by outcome",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
DELIVERIES = Counter("medialab_gateway_deliveries_total", "Final events delivered, by outcome", ["outcome"])
UNDELIVERED_REFUNDS = Counter(
    "medialab_gateway_undelivered_refunds_total",
    "Jobs refunded because their result could not be delivered, by cause (too_large, chat_refused, ...)",
    ["cause"],
)
TELEGRAM_ERRORS = Counter(
    "medialab_gateway_telegram_errors_total", "Telegram API errors by method and code", ["method", "code"]
)
TELEGRAM_429 = Counter("medialab_gateway_telegram_429_total", "429 Too Many Requests by scope", ["scope"])
