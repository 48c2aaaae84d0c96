"""The shared-combiner metrics against TFMA's built-in ones, both run by TFMA on the same examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.binary_summary import summarize

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


def _examples(path, rows: int, seed: int, gaps: bool = False, two_regions_at: int | None = None) -> None:
    """Labels, predictions with ties and a region feature whose slices range from 1 example to most.

    gaps: every 50th example has no region and every 70th no shift (so TFMA's
    batches hold them as var-len values); two_regions_at: that example has two regions.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    labels = rng.random(rows) < 0.4
    predictions = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.0, 1.0)
    predictions[: rows // 4] = np.round(predictions[: rows // 4], 1)  # ties, some exactly at 0.5
    regions = rng.choice(["north", "south", "east"], rows, p=[0.6, 0.3, 0.1])
    shifts = rng.integers(0, 3, rows)
    regions[0] = "lone"                       # a slice of one example
    regions[1:4] = "quiet"                    # a slice with no positive example
    labels[1:4] = False
    regions[4:7] = "sure"                     # a slice with no negative example
    labels[4:7] = True
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row, (label, prediction, region, shift) in enumerate(
                zip(labels, predictions, regions, shifts, strict=True)):
            example = tf.train.Example()
            example.features.feature["label"].float_list.value.append(float(label))
            example.features.feature["prediction"].float_list.value.append(float(prediction))
            values = [region]
            if row == two_regions_at:
                values.append("west")
            elif gaps and row % 50 == 49:
                values = []
            example.features.feature["region"].bytes_list.value.extend(value.encode() for value in values)
            if not (gaps and row % 70 == 69):
                example.features.feature["shift"].int64_list.value.append(int(shift))
            writer.write(example.SerializeToString())


def _model_free_config(slices: list[list[str]], builtin: bool = False):
    """The pipeline's EvalConfig reading the examples' own label and prediction (no model)."""
    from components.evaluation import build_eval_config

    eval_config = build_eval_config(
        {"slices": slices, "thresholds": [], "max_auc_drop_vs_baseline": 0.01}, builtin_metrics=builtin)
    eval_config.model_specs[0].ClearField("signature_name")
    eval_config.model_specs[0].ClearField("preprocessing_function_names")
    eval_config.model_specs[0].label_key = "label"
    eval_config.model_specs[0].prediction_key = "prediction"
    for metric in eval_config.metrics_specs[0].metrics:
        metric.ClearField("per_slice_thresholds")  # the AUC change threshold needs a baseline model
    return eval_config


def _tfma_metrics(data: str, output: str, builtin: bool, slices=([], ["region"]),
                  grouped: bool = False) -> dict[tuple, dict[str, float]]:
    """TFMA run on the examples' own predictions (no model), by slice: metric name -> value.

    grouped: with the Evaluator's extractors (components.evaluation.custom_extractors).
    """
    import tensorflow_model_analysis as tfma

    from components.evaluation import custom_extractors

    eval_config = _model_free_config(list(slices), builtin)
    extractors = custom_extractors(None, eval_config) if grouped else None
    tfma.run_model_analysis(eval_config=eval_config, data_location=data, file_format="tfrecords",
                            output_path=output, extractors=extractors)
    by_slice = {}
    for slice_metrics in tfma.load_metrics(output):
        slice_key = tuple((key.column, key.bytes_value or key.int64_value)
                          for key in slice_metrics.slice_key.single_slice_keys)
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


GROUPED_SLICES = ([], ["region"], ["shift"], ["region", "shift"], ["shift", "region"])


@pytest.mark.parametrize("two_regions_at", [None, 1234], ids=["one-value-per-row", "a-row-with-two-regions"])
def test_tfma_gives_the_same_values_from_slice_groups_as_from_one_example_at_a_time(tmp_path, two_regions_at):
    """The Evaluator's extractors (a batch's rows grouped by slice) against TFMA's own, on every slice.

    Rows missing a slicing column, two slicing specs naming the same slices, and
    (second case) a batch TFMA must slice itself because a row has two regions.
    """
    data = tmp_path / "examples.tfrecord"
    _examples(data, 4000, seed=11, gaps=True, two_regions_at=two_regions_at)
    per_example = _tfma_metrics(str(data), str(tmp_path / "per-example"), False, GROUPED_SLICES)
    grouped = _tfma_metrics(str(data), str(tmp_path / "grouped"), False, GROUPED_SLICES, grouped=True)
    assert set(grouped) == set(per_example)
    # overall, 6 regions (7 with "west"), 3 shifts, and at least the 9 crosses of the large regions
    assert len(per_example) >= 1 + 6 + 3 + 9
    for slice_key, expected in per_example.items():
        assert set(grouped[slice_key]) == set(expected), slice_key
        for name, value in expected.items():
            got = grouped[slice_key][name]
            assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value, rel=1e-12), (
                slice_key, name, got, value)
    assert per_example[()]["example_count"] == 4000


@pytest.mark.parametrize("two_regions_at", [None, 1234], ids=["one-value-per-row", "a-row-with-two-regions"])
def test_tfma_batches_are_grouped_unless_a_row_has_two_values(tmp_path, two_regions_at):
    """Which of TFMA's real batches slice_groups() groups (the equality above would hold if none were)."""
    import apache_beam as beam
    import tensorflow_model_analysis as tfma
    from apache_beam.testing.util import assert_that
    from tfx_bsl.tfxio import tf_example_record

    from components import slice_groups

    data = tmp_path / "examples.tfrecord"
    _examples(data, 4000, seed=11, gaps=True, two_regions_at=two_regions_at)
    eval_config = _model_free_config(list(GROUPED_SLICES))
    slicers = slice_groups.slicers(eval_config.slicing_specs)

    def outcome(batch: dict) -> tuple[bool, int]:
        groups = slice_groups.slice_groups(batch, slicers)
        return groups is not None, len(batch[tfma.LABELS_KEY])

    def check(outcomes: list) -> None:
        assert sum(rows for _, rows in outcomes) == 4000 and len(outcomes) > 3
        ungrouped = [rows for grouped, rows in outcomes if not grouped]
        assert len(ungrouped) == (0 if two_regions_at is None else 1), outcomes

    source = tf_example_record.TFExampleRecord(file_pattern=str(data),
                                               raw_record_column_name=tfma.ARROW_INPUT_COLUMN)
    with beam.Pipeline() as pipeline:
        batches = pipeline | source.BeamSource() | tfma.BatchedInputsToExtracts()
        for extractor in tfma.default_extractors(eval_config=eval_config)[:-2]:  # all but unbatch and slice
            batches = batches | extractor.stage_name >> extractor.ptransform
        assert_that(batches | beam.Map(outcome), check)


def test_a_group_without_one_prediction_per_example_is_an_error_naming_the_sizes():
    from tensorflow_model_analysis.metrics import metric_types

    from components.binary_metrics import SUMMARY_NAME, _summary_computation
    from components.slice_groups import GROUP_KEY

    combiner = _summary_computation(None, "", "", None, False).combiner
    accumulator = combiner.create_accumulator()
    good = metric_types.StandardMetricInputs(
        {"labels": np.array([1, 0, 1]), "predictions": np.array([[0.9], [0.2], [0.4]]), GROUP_KEY: 3})
    combiner.add_input(accumulator, good)
    assert combiner.extract_output(accumulator)[combiner._key]["example_count"] == 3
    two_per_example = metric_types.StandardMetricInputs(
        {"labels": np.array([1, 0, 1]), "predictions": np.zeros((3, 2)), GROUP_KEY: 3})
    with pytest.raises(ValueError, match=rf"{SUMMARY_NAME} .* group of 3 examples has \[3, 6, 3\]"):
        combiner.add_input(accumulator, two_per_example)
