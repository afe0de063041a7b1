"""The snapshot files themselves: loadable, dated, sourced, and their examples valid."""

from __future__ import annotations

from datetime import date

import pytest
from medialab_sandbox.snapshots import Snapshot, all_snapshots

SNAPSHOTS = list(all_snapshots().values())


@pytest.mark.parametrize("snap", SNAPSHOTS, ids=lambda s: s.endpoint)
def test_every_snapshot_is_sourced_dated_and_has_valid_examples(snap: Snapshot) -> None:
    assert snap.source.startswith("https://")
    assert snap.checked <= date.today()
    assert snap.examples.response, "a snapshot needs at least one example answer"
    if snap.request is not None and not snap.removed:
        assert snap.examples.request, "a snapshot with a request schema needs an example request"
    for body in snap.examples.request:
        assert snap.request_errors(body) == []
    for body in snap.examples.response:
        assert snap.response_errors(body) == []


def test_a_removed_endpoint_names_its_successor() -> None:
    removed = [s for s in SNAPSHOTS if s.removed]
    assert removed, "fal-ai/any-llm is recorded as removed"
    for snap in removed:
        assert snap.successor in all_snapshots()
        assert snap.refusal_status and all(400 <= code < 500 for code in snap.refusal_status)
