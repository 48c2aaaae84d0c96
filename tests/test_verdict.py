"""The blessing verdict lists every threshold, failures first, with values."""

from __future__ import annotations

import json

import pytest

from components.verdict.verdict import build_verdict

pytestmark = pytest.mark.unit

EVALUATION = {
    "thresholds": [
        {"metric": "auc", "lower_bound": 0.9},
        {"metric": "binary_accuracy", "lower_bound": 0.85},
    ],
    "max_auc_drop_vs_baseline": 0.01,
}


def test_first_run_checks_only_absolute_bounds():
    verdict = build_verdict(EVALUATION, {"Overall": {"auc": 0.95, "binary_accuracy": 0.89}}, {}, True)
    assert [c.kind for c in verdict.checks] == ["lower bound", "lower bound"]
    assert all(c.passed for c in verdict.checks)
    assert verdict.lines()[0] == "BLESSED (no baseline yet)"


def test_failed_checks_come_first_with_value_bound_and_baseline():
    candidate = {"Overall": {"auc": 0.93, "binary_accuracy": 0.84}}
    baseline = {"Overall": {"auc": 0.95, "binary_accuracy": 0.89}}
    verdict = build_verdict(EVALUATION, candidate, baseline, blessed=False)
    failed = [c for c in verdict.checks if not c.passed]
    assert [(c.metric, c.kind) for c in failed] == [
        ("binary_accuracy", "lower bound"),
        ("auc", "change vs baseline"),
    ]
    assert verdict.checks[: len(failed)] == failed
    change = failed[1]
    assert change.baseline_value == 0.95 and change.value == 0.93 and change.bound == -0.01
    assert "vs baseline 0.9500" in change.one_line()


def test_missing_metric_fails_its_check():
    verdict = build_verdict(EVALUATION, {"Overall": {"auc": 0.95}}, {}, blessed=False)
    accuracy = next(c for c in verdict.checks if c.metric == "binary_accuracy")
    assert not accuracy.passed and accuracy.value is None


def test_json_form_has_no_nan():
    verdict = build_verdict(EVALUATION, {"Overall": {"auc": 0.95, "precision": float("nan")}}, {}, False)
    text = json.dumps(verdict.as_dict(), allow_nan=False)
    assert json.loads(text)["slices"]["Overall"]["precision"] is None
