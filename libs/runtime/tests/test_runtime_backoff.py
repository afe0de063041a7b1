"""The project's one backoff: exponential, capped, jittered in the upper half of each step."""

from __future__ import annotations

import random

from medialab_runtime.backoff import retry_delay


def test_each_delay_lies_in_the_upper_half_of_its_capped_step() -> None:
    random.seed(0)
    for attempt, step in [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)]:
        delays = [retry_delay(attempt, 1.0, 30.0) for _ in range(500)]
        assert step / 2 <= min(delays) and max(delays) <= step
        assert max(delays) - min(delays) > step / 4  # jittered, not one fixed value


def test_five_redeliveries_always_outlast_a_leader_election() -> None:
    random.seed(1)
    # MAX_DELIVER 6 at the job consumer's base of 1 s: the five waits between its attempts.
    shortest = min(sum(retry_delay(n, 1.0, 30.0) for n in range(1, 6)) for _ in range(2000))
    assert shortest >= 15.5
