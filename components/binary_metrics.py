"""The Evaluator's nine metrics as TFMA metrics that share one combiner per slice.

TFMA's built-in AUC, AUCPrecisionRecall, BinaryAccuracy, Precision, Recall,
MeanLabel, MeanPrediction, Calibration and ExampleCount feed four combiners per
slice and model, and the AUC pair keeps a 10,000-bucket histogram per slice that
is rebinned in Python when the slice's values are read. Here every slice and
model has one combiner that only collects (label, prediction, weight) triples;
the nine values are then computed at once with NumPy over the sorted
predictions: AUC and PR-AUC exactly, at every distinct prediction, instead of
at 10,000 fixed thresholds (they agree with TFMA's to about 1e-4;
tests/components/test_binary_metrics.py compares both on real predictions).

The metrics keep TFMA's names (``auc``, ``binary_accuracy``, …), so thresholds,
the comparison with the baseline model, the Verdict and the report read them
as before. TFMA loads them by ``MetricConfig.module``; nothing is registered on import.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from components.binary_summary import summarize
from components.slice_groups import GROUP_KEY

MODULE = __name__
# TFMA's built-in class for each metric name computed here.
BUILTIN_CLASSES = {
    "example_count": "ExampleCount",
    "auc": "AUC",
    "auc_precision_recall": "AUCPrecisionRecall",
    "binary_accuracy": "BinaryAccuracy",
    "precision": "Precision",
    "recall": "Recall",
    "mean_label": "MeanLabel",
    "mean_prediction": "MeanPrediction",
    "calibration": "Calibration",
}
# Private (leading "_"): TFMA drops it from the written metrics.
SUMMARY_NAME = "_binary_classification_summary"


class _Triples:
    """A slice's collected (label, prediction, weight) values.

    One example's values are appended to the three lists; a group of examples
    (components/slice_groups.py) is kept as one (labels, predictions, weights)
    tuple of arrays in `groups`.
    """

    __slots__ = ("labels", "predictions", "weights", "groups")

    def __init__(self) -> None:
        self.labels: list[float] = []
        self.predictions: list[float] = []
        self.weights: list[float] = []
        self.groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def extend(self, other: _Triples) -> None:
        self.labels.extend(other.labels)
        self.predictions.extend(other.predictions)
        self.weights.extend(other.weights)
        self.groups.extend(other.groups)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every collected label, prediction and weight, as three float arrays."""
        return tuple(np.concatenate([np.asarray(single, dtype=np.float64),
                                     *(group[index] for group in self.groups)])
                     for index, single in enumerate((self.labels, self.predictions, self.weights)))


class _SummaryCombiner(beam.CombineFn):
    """Collects one slice's values for one model; extract_output computes the nine metrics."""

    def __init__(self, key: metric_types.MetricKey, eval_config, model_name: str, output_name: str,
                 example_weighted: bool) -> None:
        self._key = key
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _Triples:
        return _Triples()

    def add_input(self, accumulator: _Triples, element: metric_types.StandardMetricInputs) -> _Triples:
        if element.get(GROUP_KEY) is not None:
            accumulator.groups.append(self._group_values(element, element[GROUP_KEY]))
            return accumulator
        single = self._single_values(element)
        if single is not None:
            label, prediction, weight = single
            accumulator.labels.append(label)
            accumulator.predictions.append(prediction)
            accumulator.weights.append(weight)
            return accumulator
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._model_name,
                output_name=self._output_name, example_weighted=self._example_weighted, flatten=True):
            accumulator.labels.append(float(label))
            accumulator.predictions.append(float(prediction))
            accumulator.weights.append(float(weight))
        return accumulator

    def _group_values(self, element, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, predictions, weights) of a group of `size` examples, one number each per example."""
        label, prediction = self._model_values(element)
        weight = element.example_weight if self._example_weighted else None
        if isinstance(weight, dict):
            weight = weight.get(self._model_name, weight)
        arrays = [np.asarray(value, dtype=np.float64).ravel()
                  for value in (label, prediction, np.ones(size) if weight is None else weight)]
        if self._output_name or any(array.size != size for array in arrays):
            raise ValueError(
                f"{SUMMARY_NAME} takes one label, prediction and weight per example of a single-output "
                f"model; a group of {size} examples has {[array.size for array in arrays]} "
                f"(model {self._model_name!r}, output {self._output_name!r})")
        return tuple(arrays)

    def _model_values(self, element):
        """This model's label and prediction (multi-model evaluations key them by model name)."""
        label, prediction = element.label, element.prediction
        if self._model_name:
            label = label.get(self._model_name, label) if isinstance(label, dict) else label
            prediction = prediction.get(self._model_name) if isinstance(prediction, dict) else None
        return label, prediction

    def _single_values(self, element) -> tuple[float, float, float] | None:
        """(label, prediction, weight) when each is one number, as for this model; else None.

        TFMA's general helper (label vocabularies, class ids, top-k, multi-output
        models) costs more than everything else this combiner does per example;
        a binary model's example needs none of it, and anything else goes to it.
        """
        if self._output_name or (self._example_weighted and element.example_weight is not None):
            return None
        label, prediction = self._model_values(element)
        if not (isinstance(label, np.ndarray) and isinstance(prediction, np.ndarray)
                and label.size == 1 and prediction.size == 1 and prediction.dtype.kind == "f"
                and label.dtype.kind in "fiub"):
            return None
        return float(label.flat[0]), float(prediction.flat[0]), 1.0

    def merge_accumulators(self, accumulators: Iterable[_Triples]) -> _Triples:
        accumulators = iter(accumulators)
        merged = next(accumulators, None) or _Triples()
        for other in accumulators:
            merged.extend(other)
        return merged

    def extract_output(self, accumulator: _Triples) -> dict[metric_types.MetricKey, Any]:
        return {self._key: summarize(*accumulator.arrays())}


def _summary_computation(eval_config, model_name: str, output_name: str, sub_key,
                         example_weighted: bool) -> metric_types.MetricComputation:
    key = metric_types.MetricKey(name=SUMMARY_NAME, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key, example_weighted=example_weighted)
    return metric_types.MetricComputation(
        # The default inputs plus GROUP_KEY, which TFMA's input filter would otherwise drop.
        keys=[key], preprocessors=[metric_types.StandardMetricInputsPreprocessor(
            include_filter={GROUP_KEY: {}}, include_default_inputs=True)],
        combiner=_SummaryCombiner(key, eval_config, model_name, output_name, example_weighted))


def _computations(name: str, eval_config=None, model_names=None, output_names=None, sub_keys=None,
                  example_weighted: bool = False) -> metric_types.MetricComputations:
    """The shared summary computation (TFMA keeps one copy) and this metric, read from it."""
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            for sub_key in sub_keys or [None]:
                summary = _summary_computation(eval_config, model_name, output_name, sub_key,
                                               example_weighted)
                key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                             sub_key=sub_key, example_weighted=example_weighted)
                computations += [summary, metric_types.DerivedMetricComputation(
                    keys=[key], result=_reader(summary.keys[0], key, name))]
    return computations


def _reader(summary_key, key, name: str):
    def result(metrics: dict) -> dict:
        return {key: metrics[summary_key][name]}

    # TFMA tells derived computations apart by their result function's name and keys.
    result.__name__ = f"_read_{name}"
    return result


class _SharedSummaryMetric(metric_types.Metric):
    metric_name = ""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(_computations, name=name or self.metric_name)


# Not TFMA's class names: TFMA looks its own registry up before MetricConfig.module.


class SharedExampleCount(_SharedSummaryMetric):
    metric_name = "example_count"


class SharedAUC(_SharedSummaryMetric):
    metric_name = "auc"


class SharedAUCPrecisionRecall(_SharedSummaryMetric):
    metric_name = "auc_precision_recall"


class SharedBinaryAccuracy(_SharedSummaryMetric):
    metric_name = "binary_accuracy"


class SharedPrecision(_SharedSummaryMetric):
    metric_name = "precision"


class SharedRecall(_SharedSummaryMetric):
    metric_name = "recall"


class SharedMeanLabel(_SharedSummaryMetric):
    metric_name = "mean_label"


class SharedMeanPrediction(_SharedSummaryMetric):
    metric_name = "mean_prediction"


class SharedCalibration(_SharedSummaryMetric):
    metric_name = "calibration"


# Metric name -> the class TFMA loads by MetricConfig(class_name=cls.__name__, module=MODULE).
CLASSES = {cls.metric_name: cls for cls in _SharedSummaryMetric.__subclasses__()}
