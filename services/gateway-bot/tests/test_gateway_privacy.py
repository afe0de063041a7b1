"""What /delete_me reads out of the gateway's records: image names anywhere in a value, upload flows."""

from __future__ import annotations

from gateway_bot.privacy import object_names, upload_flow


def test_object_names_are_found_at_any_depth_and_nothing_else() -> None:
    draft = {
        "flow": "ab12cd34",
        "prompt": "object_name",
        "refs": [{"object_name": "inputs/ab12cd34/7", "size_bytes": 1}, {"other": "x"}],
        "order": {"job": {"inputs": [{"object_name": "inputs/ff/9"}]}, "object_name": 5},
    }
    assert sorted(object_names(draft)) == ["inputs/ab12cd34/7", "inputs/ff/9"]
    assert list(object_names(None)) == [] and list(object_names(True)) == []


def test_only_upload_names_give_a_flow() -> None:
    assert upload_flow("inputs/ab12cd34/7") == "ab12cd34"
    assert upload_flow("results/job/0.png") is None
    assert upload_flow("inputs/ab12cd34") is None
