"""The one backoff of the project: job and event redeliveries, provider calls, payment retries."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: up to ``base × 2^(attempt-1)``, capped at ``cap``."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))
