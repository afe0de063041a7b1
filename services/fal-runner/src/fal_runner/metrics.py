"""fal-runner's own metrics (``medialab_fal_*``); slot metrics come from medialab_runtime.slots."""

from prometheus_client import Counter, Histogram

PROVIDER_SECONDS = Histogram(
    "medialab_fal_provider_seconds",
    "Time a request spent at fal, from submit to completion, by model",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
OUTCOMES = Counter(
    "medialab_fal_outcomes_total",
    "Finished fal jobs and LLM calls, by kind and outcome (succeeded or a failure reason)",
    ["kind", "outcome"],
)
RETRIES = Counter(
    "medialab_fal_retries_total",
    "fal HTTP calls retried, by what went wrong (HTTP status or 'network')",
    ["status"],
)
