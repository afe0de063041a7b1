"""wavespeed-runner's own metrics (``medialab_wavespeed_*``); slot metrics come from the runtime."""

from prometheus_client import Counter, Histogram

PROVIDER_SECONDS = Histogram(
    "medialab_wavespeed_provider_seconds",
    "Time a task spent at WaveSpeed, from submit to its final status, by model",
    ["model"],
    buckets=(0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300, 600),
)
OUTCOMES = Counter(
    "medialab_wavespeed_outcomes_total",
    "Finished face-swap jobs, by outcome (succeeded or a failure reason)",
    ["outcome"],
)
RETRIES = Counter(
    "medialab_wavespeed_retries_total",
    "WaveSpeed calls and tasks tried again, by call and cause (HTTP status, 'network', task code)",
    ["call", "cause"],
)
POLLS = Counter(
    "medialab_wavespeed_polls_total",
    "Result polls, by answer (the task's status, or what went wrong)",
    ["result"],
)
UPLOADS = Counter(
    "medialab_wavespeed_uploads_total",
    "Input images uploaded to WaveSpeed, by flow (ticket, or the legacy binary endpoint)",
    ["flow"],
)
LOOKUPS = Counter(
    "medialab_wavespeed_submit_lookups_total",
    "Prediction-list lookups after a submit whose answer was lost, by result (found, absent: sent "
    "again, unknown: the list cannot tell, failed: the list did not answer)",
    ["result"],
)
