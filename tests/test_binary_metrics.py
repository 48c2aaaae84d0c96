"""The shared-combiner metrics against TFMA's built-in ones, both run by TFMA on the same examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.binary_metrics import summarize

TOLERANCE = {"auc": 5e-4, "auc_precision_recall": 5e-4}  # TFMA's own: 10,000 fixed thresholds


def test_areas_of_known_orderings():
    labels = np.array([1, 1, 0, 0])
    ones = np.ones(4)
    assert summarize(labels, np.array([0.9, 0.8, 0.2, 0.1]), ones)["auc"] == pytest.approx(1.0)
    assert summarize(labels, np.array([0.1, 0.2, 0.8, 0.9]), ones)["auc"] == pytest.approx(0.0)
    # Every prediction tied: the ROC curve is the diagonal, precision is the base rate throughout.
    tied = summarize(labels, np.full(4, 0.5), ones)
    assert tied["auc"] == pytest.approx(0.5)
    assert tied["auc_precision_recall"] == pytest.approx(0.5)
    separated = summarize(labels, np.array([0.9, 0.8, 0.2, 0.1]), ones)
    assert separated["auc_precision_recall"] == pytest.approx(1.0)


def test_counts_at_the_decision_threshold_and_undefined_values():
    values = summarize(np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.7, 0.5, 0.2, 0.6]), np.ones(5))
    # Above 0.5 is positive: 0.9 (tp), 0.7 (fp), 0.6 (tp); 0.5 itself is a negative (fn).
    assert values["precision"] == pytest.approx(2 / 3)
    assert values["recall"] == pytest.approx(2 / 3)
    assert values["binary_accuracy"] == pytest.approx(3 / 5)
    assert values["mean_label"] == pytest.approx(3 / 5)
    assert values["calibration"] == pytest.approx((0.9 + 0.7 + 0.5 + 0.2 + 0.6) / 3)
    no_positives = summarize(np.zeros(3), np.array([0.1, 0.6, 0.2]), np.ones(3))
    assert no_positives["auc"] == 0.0 and no_positives["auc_precision_recall"] == 0.0  # as TFMA has it
    assert math.isnan(no_positives["recall"])
    assert math.isnan(no_positives["calibration"])
    assert no_positives["precision"] == 0.0 and no_positives["example_count"] == 3


def _examples(path, rows: int, seed: int) -> None:
    """Labels, predictions with ties and a region feature whose slices range from 1 example to most."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    labels = rng.random(rows) < 0.4
    predictions = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.0, 1.0)
    predictions[: rows // 4] = np.round(predictions[: rows // 4], 1)  # ties, some exactly at 0.5
    regions = rng.choice(["north", "south", "east"], rows, p=[0.6, 0.3, 0.1])
    regions[0] = "lone"                       # a slice of one example
    regions[1:4] = "quiet"                    # a slice with no positive example
    labels[1:4] = False
    regions[4:7] = "sure"                     # a slice with no negative example
    labels[4:7] = True
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label, prediction, region in zip(labels, predictions, regions, strict=True):
            example = tf.train.Example()
            example.features.feature["label"].float_list.value.append(float(label))
            example.features.feature["prediction"].float_list.value.append(float(prediction))
            example.features.feature["region"].bytes_list.value.append(region.encode())
            writer.write(example.SerializeToString())


def _tfma_metrics(data: str, output: str, builtin: bool) -> dict[tuple, dict[str, float]]:
    """TFMA run on the examples' own predictions (no model), by slice: metric name -> value."""
    import tensorflow_model_analysis as tfma

    from components.evaluation import build_eval_config

    eval_config = build_eval_config(
        {"slices": [[], ["region"]], "thresholds": [], "max_auc_drop_vs_baseline": 0.01},
        builtin_metrics=builtin)
    eval_config.model_specs[0].ClearField("signature_name")
    eval_config.model_specs[0].ClearField("preprocessing_function_names")
    eval_config.model_specs[0].label_key = "label"
    eval_config.model_specs[0].prediction_key = "prediction"
    for metric in eval_config.metrics_specs[0].metrics:
        metric.ClearField("per_slice_thresholds")  # the AUC change threshold needs a baseline model
    tfma.run_model_analysis(eval_config=eval_config, data_location=data, file_format="tfrecords",
                            output_path=output)
    by_slice = {}
    for slice_metrics in tfma.load_metrics(output):
        slice_key = tuple((key.column, key.bytes_value) for key in slice_metrics.slice_key.single_slice_keys)
        by_slice[slice_key] = {
            item.key.name: item.value.double_value.value for item in slice_metrics.metric_keys_and_values}
    return by_slice


def test_tfma_gives_the_same_values_through_the_shared_combiner_as_through_its_builtin_metrics(tmp_path):
    data = tmp_path / "examples.tfrecord"
    _examples(data, 3000, seed=7)
    builtin = _tfma_metrics(str(data), str(tmp_path / "builtin"), builtin=True)
    shared = _tfma_metrics(str(data), str(tmp_path / "shared"), builtin=False)
    assert set(shared) == set(builtin) and len(shared) == 7  # overall + six regions
    compared = 0
    for slice_key, expected in builtin.items():
        assert set(shared[slice_key]) == set(expected), slice_key
        for name, value in expected.items():
            got = shared[slice_key][name]
            if math.isnan(value):
                assert math.isnan(got), (slice_key, name, got)
            else:
                assert got == pytest.approx(value, abs=TOLERANCE.get(name, 1e-9)), (slice_key, name)
            compared += 1
    assert compared == 7 * 9
