"""The figures benchmarks.md derives from the scale runs (no pipeline run needed)."""

from __future__ import annotations

import pytest

from benchmarks.docs import beam_mode_ratios, largest_run_shares


def scale_run(rows: int, mode: str, seconds: float, **components: float) -> dict:
    return {"rows": rows, "mode": mode, "seconds": seconds,
            "components": {name: {"seconds": value} for name, value in components.items()}}


SCALE = [
    scale_run(1000, "default", 40.0, Transform=10.0, Evaluator=20.0),
    scale_run(1000, "multi_processing", 50.0, Transform=25.0, Evaluator=15.0),
    scale_run(9000, "default", 300.0, Transform=60.0, Evaluator=150.0, Pusher=0.0),
]


def test_another_mode_is_compared_with_the_default_run_of_the_same_size():
    ratios = {item["component"]: item for item in beam_mode_ratios(SCALE)}
    assert set(ratios) == {"Transform", "Evaluator", "whole run"}
    assert ratios["Transform"]["ratio"] == 2.5
    assert ratios["Evaluator"]["ratio"] == 0.75
    assert ratios["whole run"] == {"rows": 1000, "mode": "multi_processing", "component": "whole run",
                                   "default": 40.0, "other": 50.0, "ratio": 1.25}


def test_a_size_run_one_way_only_is_not_compared():
    assert beam_mode_ratios([run for run in SCALE if run["rows"] == 9000]) == []
    assert beam_mode_ratios([SCALE[1]]) == []


def test_shares_are_of_the_largest_in_process_run():
    largest = largest_run_shares(SCALE)
    assert largest["rows"] == 9000 and largest["seconds"] == 300.0
    assert largest["shares"] == {"Transform": 20, "Evaluator": 50}
    assert sum(largest["shares"].values()) == pytest.approx(70)


def test_no_in_process_run_gives_no_shares():
    assert largest_run_shares([SCALE[1]]) is None
