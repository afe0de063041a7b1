"""What /delete_me reads out of the gateway's records: image names anywhere in a value."""

from __future__ import annotations

from gateway_bot.privacy import object_names


def test_object_names_are_found_at_any_depth_and_nothing_else() -> None:
    draft = {
        "flow": "ab12cd34",
        "prompt": "object_name",
        "refs": [{"object_name": "inputs/ab12cd34/7", "size_bytes": 1}, {"other": "x"}],
        "order": {"job": {"inputs": [{"object_name": "inputs/ff/9"}]}, "object_name": 5},
    }
    assert sorted(object_names(draft)) == ["inputs/ab12cd34/7", "inputs/ff/9"]
    assert list(object_names(None)) == [] and list(object_names(True)) == []
