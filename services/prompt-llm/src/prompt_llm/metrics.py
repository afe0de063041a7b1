"""prompt-llm's own metrics (``medialab_llm_*``); the runtime adds the shared RPC ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from medialab_contracts.errors import ErrorCode, MediaLabError
from prometheus_client import Counter, Gauge, Histogram

CALLS = Counter(
    "medialab_llm_calls_total",
    "Operations handled (write_prompt, translate, parse_style), by outcome: ok, repaired, cached, "
    "passthrough, fallback or an error code",
    ["operation", "outcome"],
)
PROVIDER_CALLS = Counter(
    "medialab_llm_provider_calls_total",
    "Raw LLM calls made through fal.llm, by result (ok or an error code)",
    ["operation", "result"],
)
TOKENS = Counter(
    "medialab_llm_tokens_total",
    "Tokens the provider counted for answered LLM calls, by kind (prompt or completion)",
    ["operation", "kind"],
)
REPAIRS = Counter(
    "medialab_llm_repairs_total",
    "Rejected answers and their repair, by result (fixed, rejected, error, no_time)",
    ["operation", "result"],
)
CACHE_HITS = Counter(
    "medialab_llm_cache_hits_total", "Answers served from the llmcache bucket", ["operation"]
)
CACHE_MISSES = Counter("medialab_llm_cache_misses_total", "Cache lookups that found nothing", ["operation"])
LATENCY = Histogram(
    "medialab_llm_latency_seconds",
    "Time to answer an operation, repairs included",
    ["operation", "outcome"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
PROMPT_INFO = Gauge(
    "medialab_llm_prompt_info", "System prompt files in use", ["operation", "version", "digest"]
)


@dataclass
class Outcome:
    value: str = "ok"


@contextmanager
def observed(operation: str) -> Iterator[Outcome]:
    """Count one operation and time it; the body sets ``outcome.value``, errors set their code."""
    outcome = Outcome()
    started = time.perf_counter()
    try:
        yield outcome
    except MediaLabError as error:
        outcome.value = error.code.value
        raise
    except Exception:
        outcome.value = ErrorCode.internal.value
        raise
    finally:
        CALLS.labels(operation, outcome.value).inc()
        LATENCY.labels(operation, outcome.value).observe(time.perf_counter() - started)
