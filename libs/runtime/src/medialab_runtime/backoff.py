"""The one backoff of the project: job and event redeliveries, provider calls, payment retries."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with equal jitter: between half of and all of ``base × 2^(attempt-1)``,
    capped at ``cap``.

    Half of each step is sure, so a message's attempts together outlast an outage as long as half the
    sum of their steps: five job attempts at base 1 s span at least 15.5 s, enough for a NATS leader
    election. Full jitter (anywhere from 0) once spent five attempts in 5 s of an election and
    dead-lettered a paid job."""
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(step / 2, step)
