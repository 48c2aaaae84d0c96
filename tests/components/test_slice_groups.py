"""slice_groups() on hand-made batches of TFMA's own types (real TFMA runs: test_binary_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.unit


def _slicers(*slices: list[str]):
    import tensorflow_model_analysis as tfma

    from components.slice_groups import slicers

    return slicers([tfma.SlicingSpec(feature_keys=keys) for keys in slices])


def _batch(features: dict) -> dict:
    return {"labels": np.array([1, 0, 1, 0]), "predictions": np.array([[0.9], [0.2], [0.6], [0.4]]),
            "features": features}


def test_rows_are_grouped_by_value_and_a_missing_value_is_in_no_slice():
    from tensorflow_model_analysis.api.types import VarLenTensorValue

    from components.slice_groups import slice_groups

    # "region" as TFMA batches a string feature that two of four rows lack.
    region = VarLenTensorValue(values=np.array([b"north", b"south"], dtype=object),
                               indices=np.array([[0, 0], [3, 0]]), dense_shape=np.array([4, 1]))
    shift = np.array([[1], [2], [1], [1]])
    groups = slice_groups(_batch({"region": region, "shift": shift}),
                          _slicers([], ["region"], ["shift"], ["region", "shift"]))
    as_lists = {key: None if rows is None else sorted(rows.tolist()) for key, rows in groups.items()}
    assert as_lists == {
        (): None,
        (("region", "north"),): [0], (("region", "south"),): [3],
        (("shift", 1),): [0, 2, 3], (("shift", 2),): [1],
        (("region", "north"), ("shift", 1)): [0], (("region", "south"), ("shift", 1)): [3],
    }


def test_a_column_no_row_has_gives_no_slice_of_its_specs():
    from components.slice_groups import slice_groups

    groups = slice_groups(_batch({"shift": np.array([[1], [1], [1], [1]])}),
                          _slicers([], ["region"], ["region", "shift"], ["shift"]))
    assert set(groups) == {(), (("shift", 1),)}


def test_a_row_with_two_values_leaves_the_batch_to_tfma():
    from tensorflow_model_analysis.api.types import VarLenTensorValue

    from components.slice_groups import slice_groups

    region = VarLenTensorValue(values=np.array([b"north", b"west", b"south"], dtype=object),
                               indices=np.array([[0, 0], [0, 1], [2, 0]]), dense_shape=np.array([4, 2]))
    assert slice_groups(_batch({"region": region}), _slicers([], ["region"])) is None
    assert slice_groups(_batch({"shift": np.array([[1, 2]] * 4)}), _slicers(["shift"])) is None
