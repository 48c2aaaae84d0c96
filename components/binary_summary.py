"""The nine statistics of one group of binary predictions, computed at once with NumPy.

What the Evaluator's shared TFMA combiner (components/binary_metrics.py) turns
each slice's (label, prediction, weight) triples into: AUC and PR-AUC exactly,
at every distinct prediction, and the threshold metrics at 0.5. No TFMA here.
"""

from __future__ import annotations

import numpy as np

DECISION_THRESHOLD = 0.5   # a prediction above it is a positive, as in TFMA's confusion matrices


def summarize(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """All nine metrics of one slice from its labels (0/1), predictions and example weights."""
    labels = labels.astype(np.float64)
    total = float(weights.sum())
    weighted_labels = float((weights * labels).sum())
    weighted_predictions = float((weights * predictions).sum())
    positive = predictions > DECISION_THRESHOLD
    tp = float((weights * labels)[positive].sum())
    fp = float((weights * (1 - labels))[positive].sum())
    fn = weighted_labels - tp
    tn = total - weighted_labels - fp
    roc, pr = _areas(labels, predictions, weights)
    return {
        "example_count": total,
        "auc": roc,
        "auc_precision_recall": pr,
        "binary_accuracy": _ratio(tp + tn, total),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "mean_label": _ratio(weighted_labels, total),
        "mean_prediction": _ratio(weighted_predictions, total),
        "calibration": _ratio(weighted_predictions, weighted_labels),
    }


def _ratio(numerator: float, denominator: float) -> float:
    # TFMA's convention: undefined (NaN) unless the denominator is positive.
    return numerator / denominator if denominator > 0 else float("nan")


def _areas(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """ROC AUC (trapezoids) and PR AUC (interpolated as TFMA and Keras do); every prediction a threshold."""
    order = np.argsort(-predictions, kind="stable")
    ordered = predictions[order]
    positives = np.cumsum((weights * labels)[order])
    negatives = np.cumsum((weights * (1 - labels))[order])
    # The last of each run of equal predictions: a threshold just below that value.
    last = np.r_[ordered[1:] != ordered[:-1], True]
    tp = np.r_[0.0, positives[last]]
    fp = np.r_[0.0, negatives[last]]
    all_positive, all_negative = tp[-1], fp[-1]
    # TFMA's values where a class is missing from the slice: 0, not undefined.
    if all_positive <= 0:
        return 0.0, 0.0
    roc = float(np.trapz(tp / all_positive, fp / all_negative)) if all_negative > 0 else 0.0
    return roc, _interpolated_pr_area(tp, fp, all_positive)


def _interpolated_pr_area(tp: np.ndarray, fp: np.ndarray, all_positive: float) -> float:
    """Area under precision-recall, interpolating between thresholds as Davis & Goadrich (2006) describe.

    Between two thresholds, precision follows tp / (tp + fp) as both grow
    linearly, not a straight line, so each step's area has a closed form.
    tp and fp run from the highest threshold (0, 0) to the lowest; from (0, 0)
    the ratio is 1 and the step is the first threshold's precision times its recall.
    """
    predicted = tp + fp
    d_tp = np.diff(tp)
    d_predicted = np.diff(predicted)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(d_predicted > 0, d_tp / d_predicted, 0.0)
        intercept = tp[1:] - slope * predicted[1:]
        ratio = np.where((d_predicted > 0) & (predicted[:-1] > 0), predicted[1:] / predicted[:-1], 1.0)
        step = slope * (d_tp + intercept * np.log(ratio))
    return float(np.sum(step) / all_positive)
