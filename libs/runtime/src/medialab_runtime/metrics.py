"""Prometheus metrics every service exposes, besides its own."""

from prometheus_client import Counter, Gauge, Histogram

BUILD_INFO = Gauge("medialab_build_info", "Build information of the running service", ["service", "version"])
MESSAGES = Counter(
    "medialab_messages_total",
    "NATS messages handled, by subject pattern and direction",
    ["service", "subject", "direction"],
)
RPC_LATENCY = Histogram(
    "medialab_rpc_seconds",
    "Latency of request-reply handlers",
    ["service", "endpoint", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS_PROCESSED = Counter(
    "medialab_jobs_total",
    "Jobs finished by a runner, by mode and outcome (succeeded, failed:<reason>)",
    ["service", "mode", "outcome"],
)
JOB_DURATION = Histogram(
    "medialab_job_duration_seconds",
    "Time from a job's creation to its final event, by mode",
    ["service", "mode"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)
JOBS_REFUSED = Counter(
    "medialab_jobs_refused_total",
    "Job messages a consumer terminated unrun: unsigned (no valid billing signature) or wrong_subject "
    "(signed for another runner's subject)",
    ["service", "reason"],
)
JOB_REDELIVERIES = Counter("medialab_job_redeliveries_total", "Job messages seen more than once", ["service"])
JOBS_IN_FLIGHT = Gauge("medialab_jobs_in_flight", "Jobs being processed now", ["service"])
NATS_CONNECTED = Gauge("medialab_nats_connected", "1 while the NATS connection is up", ["service"])
CONSUMER_PENDING = Gauge(
    "medialab_consumer_pending",
    "Messages in the stream not yet delivered to a durable consumer (its backlog)",
    ["service", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "medialab_consumer_ack_pending",
    "Messages delivered to a durable consumer and not yet acknowledged",
    ["service", "consumer"],
)
CONSUMER_REDELIVERED = Gauge(
    "medialab_consumer_redelivered",
    "Messages of a durable consumer that are being redelivered now",
    ["service", "consumer"],
)
STREAM_REPLICAS = Gauge(
    "medialab_jetstream_replicas",
    "Copies a JetStream stream (bucket, object store) is configured with",
    ["service", "stream"],
)
STREAM_REPLICAS_CURRENT = Gauge(
    "medialab_jetstream_replicas_current",
    "Copies of a stream that are current now (the leader and every caught-up follower); 0 without a leader",
    ["service", "stream"],
)
