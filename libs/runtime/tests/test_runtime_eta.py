"""The estimate a job waiting for a provider slot shows: its model's median slot-hold time, taken once
per turn the jobs ahead and it need over the slots, plus its own run."""

import pytest
from medialab_runtime.eta import RecentDurations, queue_eta


def test_the_median_of_the_last_durations_per_model() -> None:
    recent = RecentDurations(remembered=3)
    assert recent.median("nb") is None  # nothing seen: no estimate rather than a guess
    for seconds in (10.0, 12.0, 60.0):  # one slow outlier does not move the median far
        recent.observe("nb", seconds)
    assert recent.median("nb") == 12.0
    recent.observe("nb", 14.0)  # the oldest (10) is forgotten
    assert recent.median("nb") == 14.0
    assert recent.median("sd") is None


@pytest.mark.parametrize(
    ("ahead", "parallel", "expected"),
    [
        (0, 1, 20.0),  # next on one slot: the running job's turn, then its own
        (2, 1, 40.0),  # two ahead on one slot: three turns, then the run
        (3, 2, 30.0),  # four turns shared by two slots
        (0, 10, 11.0),  # next among many slots: little more than its own run
    ],
)
def test_queue_eta_counts_turns_over_the_slots(ahead: int, parallel: int, expected: float) -> None:
    assert queue_eta(10.0, ahead, parallel) == pytest.approx(expected)


def test_queue_eta_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        queue_eta(10.0, -1, 1)
    with pytest.raises(ValueError):
        queue_eta(10.0, 0, 0)
