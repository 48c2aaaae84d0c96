"""The blessing decision in words: which thresholds were checked, with which values.

TFX records only BLESSED / NOT_BLESSED (tensorflow/tfx#2376). This module
rebuilds the reasons from TFMA's per-slice metrics. It is pure: the inputs are
plain dicts, so it is tested without TFMA.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

OVERALL = "Overall"
# Config metric names -> TFMA metric names.
TFMA_NAMES = {
    "auc": "auc",
    "auc_precision_recall": "auc_precision_recall",
    "binary_accuracy": "binary_accuracy",
    "precision": "precision",
    "recall": "recall",
}


@dataclass(frozen=True)
class Check:
    slice: str
    metric: str
    kind: str  # "lower bound" or "change vs baseline"
    value: float | None
    bound: float
    passed: bool
    baseline_value: float | None = None

    def one_line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        value = "missing" if self.value is None else f"{self.value:.4f}"
        if self.kind == "change vs baseline":
            baseline = "none" if self.baseline_value is None else f"{self.baseline_value:.4f}"
            return (f"{status}  {self.slice}: {self.metric} {value} vs baseline {baseline} "
                    f"(may drop at most {-self.bound:.4f})")
        return f"{status}  {self.slice}: {self.metric} {value} >= {self.bound:.4f}"


@dataclass
class Verdict:
    blessed: bool
    has_baseline: bool
    checks: list[Check] = field(default_factory=list)
    slices: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_slices: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A JSON-safe dict: NaN metrics (e.g. precision with no positives) become None."""
        return _finite(asdict(self))

    def lines(self) -> list[str]:
        head = "BLESSED" if self.blessed else "NOT BLESSED"
        baseline = "against the last blessed model" if self.has_baseline else "no baseline yet"
        return [f"{head} ({baseline})", *(check.one_line() for check in self.checks)]


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def build_verdict(
    evaluation: dict,
    candidate: dict[str, dict[str, float]],
    baseline: dict[str, dict[str, float]],
    blessed: bool,
) -> Verdict:
    """Checks the configured thresholds against the candidate's (and baseline's) metrics.

    Args:
      evaluation: the evaluation section of the config.
      candidate: slice name -> metric name -> value, for the new model.
      baseline: the same for the baseline model; empty when there is none.
      blessed: TFX's own decision, which is the one that counts.
    """
    overall = candidate.get(OVERALL, {})
    checks = []
    for threshold in evaluation["thresholds"]:
        name = TFMA_NAMES[threshold["metric"]]
        value = overall.get(name)
        bound = float(threshold["lower_bound"])
        checks.append(Check(OVERALL, name, "lower bound", value, bound,
                            value is not None and value >= bound))
    if baseline:
        base_auc = baseline.get(OVERALL, {}).get("auc")
        value = overall.get("auc")
        bound = -float(evaluation["max_auc_drop_vs_baseline"])
        passed = value is not None and base_auc is not None and value - base_auc >= bound
        checks.append(Check(OVERALL, "auc", "change vs baseline", value, bound, passed, base_auc))
    checks.sort(key=lambda check: check.passed)  # failures first
    return Verdict(blessed=blessed, has_baseline=bool(baseline), checks=checks,
                   slices=candidate, baseline_slices=baseline)
