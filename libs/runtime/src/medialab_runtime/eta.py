"""How long a job waiting in our queue for a provider slot will take, from its model's recent jobs.

A runner keeps the last few slot-hold times per model (submit to result); their median is what one
job of that model holds a slot for. A waiter with ``ahead`` jobs before it waits for those and itself
to take turns over the ``parallel`` slots, then runs: an estimate for the user, not a promise.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Awaitable, Callable

# A job's place in our queue (0 = next) and the seconds until its result, when there is an estimate.
OnQueued = Callable[[int, float | None], Awaitable[None]]


class RecentDurations:
    """The last ``remembered`` durations per key (a model id); kept by one process, in memory."""

    def __init__(self, remembered: int = 20) -> None:
        self._remembered = remembered
        self._seconds: dict[str, deque[float]] = {}

    def observe(self, key: str, seconds: float) -> None:
        self._seconds.setdefault(key, deque(maxlen=self._remembered)).append(seconds)

    def median(self, key: str) -> float | None:
        recent = self._seconds.get(key)
        return statistics.median(recent) if recent else None


def queue_eta(typical_s: float, ahead: int, parallel: int) -> float:
    """Seconds until the result of a job with ``ahead`` waiters before it on ``parallel`` slots."""
    if ahead < 0 or parallel < 1:
        raise ValueError("ahead must be ≥ 0 and parallel ≥ 1")
    return typical_s * (1 + (ahead + 1) / parallel)


def slot_waiter(
    holds: RecentDurations, model_id: str, parallel: int, on_queued: OnQueued | None
) -> Callable[[int], Awaitable[None]] | None:
    """A slot pool's ``on_position`` that tells ``on_queued`` the place and the estimate from it."""
    if on_queued is None:
        return None

    async def on_position(ahead: int) -> None:
        typical = holds.median(model_id)
        await on_queued(ahead, None if typical is None else queue_eta(typical, ahead, parallel))

    return on_position
