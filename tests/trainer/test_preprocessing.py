"""preprocessing_fn run through tf.Transform on Beam, on real taxi rows."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from configs.settings import DEFAULT_CONFIG, load_config
from tests.conftest import PROJECT_ROOT, read_taxi_rows

pytestmark = pytest.mark.unit

SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
ROWS = 40


def _typed_instance(row: dict[str, str], schema) -> dict:
    """A CSV row as tf.Transform instance dict: a list per feature, empty when missing."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    instance = {}
    for feature in schema.feature:
        text = row[feature.name]
        if text == "":
            instance[feature.name] = []
        elif feature.type == schema_pb2.FLOAT:
            instance[feature.name] = [float(text)]
        elif feature.type == schema_pb2.INT:
            instance[feature.name] = [int(float(text))]
        else:
            instance[feature.name] = [text.encode()]
    return instance


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    import tensorflow_data_validation as tfdv
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata

    from trainer.preprocessing import preprocessing_fn

    config = load_config(DEFAULT_CONFIG, check_paths=False)
    custom_config = {"features": config.features.model_dump(), "label": config.label.model_dump()}
    schema = tfdv.load_schema_text(str(SCHEMA))
    # The first rows, plus a few that lack trip_seconds (6 in the whole file).
    rows = read_taxi_rows(ROWS) + [row for row in read_taxi_rows() if row["trip_seconds"] == ""][:3]
    instances = [_typed_instance(row, schema) for row in rows]
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (outputs, _), _ = (
            instances,
            dataset_metadata.DatasetMetadata(schema),
        ) | tft_beam.AnalyzeAndTransformDataset(
            functools.partial(preprocessing_fn, custom_config=custom_config)
        )
    return rows, outputs, config


def test_numeric_features_are_z_scores_of_the_present_values(transformed):
    rows, outputs, _ = transformed
    fares = np.array([float(row["fare"]) for row in rows])
    expected = (fares - fares.mean()) / fares.std()
    actual = np.array([out["fare_xf"] for out in outputs])
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_missing_numeric_values_become_the_mean_after_scaling(transformed):
    rows, outputs, _ = transformed
    missing = [i for i, row in enumerate(rows) if row["trip_seconds"] == ""]
    assert missing
    present = [float(row["trip_seconds"]) for row in rows if row["trip_seconds"] != ""]
    for index in missing:
        assert outputs[index]["trip_seconds_xf"] == 0.0
    # Present values are standardised over the present values only.
    first = next(i for i, row in enumerate(rows) if row["trip_seconds"] != "")
    expected = (float(rows[first]["trip_seconds"]) - np.mean(present)) / np.std(present)
    assert outputs[first]["trip_seconds_xf"] == pytest.approx(expected, rel=1e-4)


def test_bucket_ids_follow_value_order_and_missing_gets_its_own_bucket(transformed):
    rows, outputs, config = transformed
    buckets = config.features.bucketized["pickup_latitude"]
    pairs = [(float(row["pickup_latitude"]), out["pickup_latitude_xf"])
             for row, out in zip(rows, outputs, strict=True) if row["pickup_latitude"] != ""]
    pairs.sort()
    ids = [bucket for _, bucket in pairs]
    assert ids == sorted(ids), "bucket ids must grow with latitude"
    assert min(ids) >= 0 and max(ids) < buckets and len(set(ids)) > 1
    for row, out in zip(rows, outputs, strict=True):
        if row["pickup_latitude"] == "":
            assert out["pickup_latitude_xf"] == buckets


def test_vocabulary_ids_rank_values_by_frequency(transformed):
    rows, outputs, _ = transformed
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["payment_type"]] = counts.get(row["payment_type"], 0) + 1
    most_common = max(counts, key=counts.get)
    ids = {row["payment_type"]: out["payment_type_xf"] for row, out in zip(rows, outputs, strict=True)}
    assert ids[most_common] == 0
    assert len(set(ids.values())) == len(counts), "each payment type gets its own id"


def test_integer_categories_pass_through_and_missing_maps_to_the_extra_id(transformed):
    rows, outputs, config = transformed
    size = config.features.integer_categorical["pickup_community_area"]
    for row, out in zip(rows, outputs, strict=True):
        assert out["trip_start_hour_xf"] == int(row["trip_start_hour"])
        area = row["pickup_community_area"]
        assert out["pickup_community_area_xf"] == (int(float(area)) if area else size)


def test_label_is_big_tipper(transformed):
    rows, outputs, _ = transformed
    expected = [int(float(row["tips"]) > 0.2 * float(row["fare"])) for row in rows]
    assert [out["big_tipper_xf"] for out in outputs] == expected
    assert 0 < sum(expected) < len(expected), "the sample must hold both classes"


def test_slice_buckets_count_the_boundaries_reached_and_stay_out_of_the_model(transformed):
    rows, outputs, config = transformed
    boundaries = config.features.slice_buckets["trip_start_hour"]
    for row, out in zip(rows, outputs, strict=True):
        hour = int(row["trip_start_hour"])
        assert out["trip_start_hour_bucket"] == sum(hour >= b for b in boundaries)
    from trainer.features import feature_spec_from_config

    spec = feature_spec_from_config({"features": config.features.model_dump()})
    assert "trip_start_hour_bucket" not in spec.model_inputs()
