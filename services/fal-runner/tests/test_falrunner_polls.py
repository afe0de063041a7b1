"""The status poll schedule (fal_runner.execution.PollPolicy): fal's client cadence or slower."""

from __future__ import annotations

import pytest
from fal_runner.execution import PollPolicy

POLICY = PollPolicy()


def poll_times(done_at: float, window: tuple[float, float] | None = None) -> list[float]:
    """When a request finishing ``done_at`` s after submit is polled, the last poll seeing it done."""
    times: list[float] = []
    now = 0.0
    while True:
        times.append(now)
        if now >= done_at:
            return times
        now += POLICY.next_delay(now, window, age=now, polls=len(times))


@pytest.mark.parametrize("window", [None, (1.9, 2.3), (0.5, 0.7), (4.0, 5.0)])
@pytest.mark.parametrize("done_at", [0.05, 0.5, 2.0, 7.0, 60.0])
def test_never_more_than_one_poll_per_tenth_of_a_second_of_age(
    done_at: float, window: tuple[float, float] | None
) -> None:
    times = poll_times(done_at, window)
    for n, at in enumerate(times):
        assert at >= n * POLICY.min_s - 1e-9, (n, at)


def test_a_two_second_job_takes_at_most_twenty_polls_and_is_noticed_soon() -> None:
    plain, expected = poll_times(2.0), poll_times(2.0, (1.9, 2.3))
    assert len(plain) <= 20 and plain[-1] - 2.0 <= 0.2
    # Around the expected end the polls saved earlier buy a prompt look.
    assert len(expected) <= len(plain) and expected[-1] - 2.0 <= 0.05


def test_queued_requests_are_polled_less_the_further_back_they_wait() -> None:
    assert POLICY.queued_delay(0.0, 0) == POLICY.min_s
    assert POLICY.queued_delay(0.0, 3) == pytest.approx(4 * POLICY.min_s)
    assert POLICY.queued_delay(60.0, 50) == POLICY.max_s
