"""The release decision in words: every threshold checked, with its values.

TFX records only BLESSED / NOT_BLESSED (tensorflow/tfx#2376). This module
rebuilds the reasons from TFMA's per-slice metrics and adds what TFMA cannot
express: per-slice bounds that apply only to slices with enough examples. The
model is released when TFMA blessed it and every check here passed. It is pure:
the inputs are plain dicts, so it is tested without TFMA.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field

# The Verdict executor writes this into its EvaluationVerdict artifact; the
# summary, `why`, `models`, lineage and the report read it.
VERDICT_FILE = "verdict.json"
OVERALL = "Overall"
# Metrics that mean nothing on a slice holding one class only.
NEED_BOTH_CLASSES = {"auc", "auc_precision_recall", "precision", "recall"}
LOWER_BOUND, UPPER_BOUND, CHANGE = "lower bound", "upper bound", "change vs baseline"


@dataclass(frozen=True)
class Check:
    slice: str
    metric: str
    kind: str  # LOWER_BOUND, UPPER_BOUND (TFMA's thresholds only) or CHANGE
    value: float | None
    bound: float
    passed: bool
    baseline_value: float | None = None

    def one_line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        value = "missing" if self.value is None else f"{self.value:.4f}"
        if self.kind == CHANGE:
            baseline = "none" if self.baseline_value is None else f"{self.baseline_value:.4f}"
            return (f"{status} {self.slice} {self.metric} {value} vs baseline {baseline} "
                    f"(max drop {-self.bound:.4f})")
        relation = "<=" if self.kind == UPPER_BOUND else ">="
        return f"{status} {self.slice} {self.metric} {value} {relation} {self.bound:.4f}"


@dataclass
class Verdict:
    blessed: bool
    tfma_blessed: bool
    has_baseline: bool
    checks: list[Check] = field(default_factory=list)
    slices: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_slices: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A JSON-safe dict: NaN metrics (e.g. precision with no positives) become None."""
        return _finite(asdict(self))

    def lines(self) -> list[str]:
        head = "BLESSED" if self.blessed else "NOT BLESSED"
        baseline = "against the served model" if self.has_baseline else "no baseline yet"
        return [f"{head} ({baseline})", *(check.one_line() for check in self.checks)]


def describe_slice(slice_key) -> str:
    """A TFMA SliceKey as the Verdict, `why` and the report name it: "payment_type=Cash", or "Overall"."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or OVERALL


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _lower_bound(slice_name: str, metrics: dict[str, float], threshold: dict) -> Check:
    name = threshold["metric"]
    value = metrics.get(name)
    if value is not None and not math.isfinite(value):
        value = None
    bound = float(threshold["lower_bound"])
    return Check(slice_name, name, LOWER_BOUND, value, bound, value is not None and value >= bound)


def _slice_checks(evaluation: dict, candidate: dict[str, dict[str, float]]) -> list[Check]:
    checks = []
    for slice_name, metrics in sorted(candidate.items()):
        if slice_name == OVERALL or metrics.get("example_count", 0) < evaluation["min_slice_examples"]:
            continue
        one_class = metrics.get("mean_label") in (0.0, 1.0)
        for threshold in evaluation.get("slice_thresholds", []):
            if one_class and threshold["metric"] in NEED_BOTH_CLASSES:
                continue
            checks.append(_lower_bound(slice_name, metrics, threshold))
    return checks


def build_verdict(
    evaluation: dict,
    candidate: dict[str, dict[str, float]],
    baseline: dict[str, dict[str, float]],
    tfma_blessed: bool,
) -> Verdict:
    """Checks the configured thresholds against the candidate's (and baseline's) metrics.

    Args:
      evaluation: the evaluation section of the config.
      candidate: slice name -> metric name -> value, for the new model.
      baseline: the same for the baseline model; empty when there is none.
      tfma_blessed: the Evaluator's own decision (overall bounds and baseline change).
    """
    overall = candidate.get(OVERALL, {})
    checks = [_lower_bound(OVERALL, overall, threshold) for threshold in evaluation["thresholds"]]
    if baseline:
        base_auc = baseline.get(OVERALL, {}).get("auc")
        value = overall.get("auc")
        bound = -float(evaluation["max_auc_drop_vs_baseline"])
        passed = value is not None and base_auc is not None and value - base_auc >= bound
        checks.append(Check(OVERALL, "auc", CHANGE, value, bound, passed, base_auc))
    checks.extend(_slice_checks(evaluation, candidate))
    checks.sort(key=lambda check: check.passed)  # failures first, order otherwise kept
    return Verdict(
        blessed=tfma_blessed and all(check.passed for check in checks),
        tfma_blessed=tfma_blessed,
        has_baseline=bool(baseline),
        checks=checks,
        slices=candidate,
        baseline_slices=baseline,
    )


def read_verdict(verdict_uri: str) -> dict | None:
    """verdict.json of an EvaluationVerdict artifact on the local filesystem, or None."""
    path = os.path.join(verdict_uri, VERDICT_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as reader:
        return json.load(reader)
