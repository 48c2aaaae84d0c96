"""The release verdict lists every threshold, failures first, with values."""

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
    "slice_thresholds": [
        {"metric": "binary_accuracy", "lower_bound": 0.6},
        {"metric": "auc", "lower_bound": 0.6},
    ],
    "min_slice_examples": 200,
    "max_auc_drop_vs_baseline": 0.01,
}
GOOD = {"example_count": 5000, "auc": 0.95, "binary_accuracy": 0.89, "mean_label": 0.23}


def test_first_run_checks_overall_bounds_and_big_enough_slices():
    candidate = {
        "Overall": GOOD,
        "payment_type=Credit Card": {"example_count": 1700, "auc": 0.65, "binary_accuracy": 0.66,
                                     "mean_label": 0.66},
        "company=Tiny Cab": {"example_count": 12, "auc": 0.1, "binary_accuracy": 0.2, "mean_label": 0.5},
    }
    verdict = build_verdict(EVALUATION, candidate, {}, tfma_blessed=True)
    assert verdict.blessed
    assert {(c.slice, c.metric) for c in verdict.checks} == {
        ("Overall", "auc"), ("Overall", "binary_accuracy"),
        ("payment_type=Credit Card", "auc"), ("payment_type=Credit Card", "binary_accuracy"),
    }, "slices under min_slice_examples are not checked"
    assert verdict.lines()[0] == "BLESSED (no baseline yet)"


def test_one_class_slices_skip_class_dependent_metrics():
    cash = {"example_count": 3000, "auc": 0.0, "binary_accuracy": 0.999, "mean_label": 0.0}
    verdict = build_verdict(EVALUATION, {"Overall": GOOD, "payment_type=Cash": cash}, {}, True)
    assert [(c.slice, c.metric) for c in verdict.checks if c.slice != "Overall"] == [
        ("payment_type=Cash", "binary_accuracy")
    ]
    assert verdict.blessed


def test_a_failing_big_slice_blocks_release_even_when_tfma_blessed():
    bad = {"example_count": 400, "auc": 0.7, "binary_accuracy": 0.5, "mean_label": 0.4}
    verdict = build_verdict(EVALUATION, {"Overall": GOOD, "trip_start_hour=3": bad}, {}, True)
    assert verdict.tfma_blessed and not verdict.blessed
    first = verdict.checks[0]
    assert (first.slice, first.metric, first.passed, first.value) == (
        "trip_start_hour=3", "binary_accuracy", False, 0.5)


def test_failed_checks_come_first_with_value_bound_and_baseline():
    candidate = {"Overall": {**GOOD, "auc": 0.93, "binary_accuracy": 0.84}}
    baseline = {"Overall": GOOD}
    verdict = build_verdict(EVALUATION, candidate, baseline, tfma_blessed=False)
    failed = [c for c in verdict.checks if not c.passed]
    assert [(c.metric, c.kind) for c in failed] == [
        ("binary_accuracy", "lower bound"),
        ("auc", "change vs baseline"),
    ]
    assert verdict.checks[: len(failed)] == failed
    change = failed[1]
    assert change.baseline_value == 0.95 and change.value == 0.93 and change.bound == -0.01
    assert "vs baseline 0.9500" in change.one_line()
    assert verdict.lines()[0] == "NOT BLESSED (against the served model)"


def test_missing_or_nan_metric_fails_its_check():
    verdict = build_verdict(EVALUATION, {"Overall": {"auc": float("nan")}}, {}, tfma_blessed=False)
    assert all(not c.passed and c.value is None for c in verdict.checks)


def test_json_form_has_no_nan():
    verdict = build_verdict(EVALUATION, {"Overall": {**GOOD, "precision": float("nan")}}, {}, False)
    text = json.dumps(verdict.as_dict(), allow_nan=False)
    assert json.loads(text)["slices"]["Overall"]["precision"] is None
