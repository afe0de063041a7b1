"""Prometheus counters of the payments service."""

from prometheus_client import Counter

LINKS = Counter("medialab_payments_links_total", "YooKassa payment links made")
CREDITED = Counter("medialab_payments_credited_total", "YooKassa payments this service had credited")
NOTIFICATIONS = Counter(
    "medialab_payments_notifications_total", "YooKassa notifications received, by outcome", ["outcome"]
)
RECONCILED = Counter(
    "medialab_payments_reconciled_total", "Pending orders the reconcile read, by outcome", ["outcome"]
)
