"""Gives TFMA one extract per slice and batch instead of one per example and slice.

TFMA's default extractors end by unbatching (one extract per example) and
listing each example's slice keys; its evaluator then fans every example out
to each of its slices (7 here) and feeds the metric combiners one
(slice, example) element at a time. At 500,000 eval examples that is 3.5
million Beam elements, and their handling, not the metric arithmetic, was most
of the Evaluator's time (py-spy). Here each batch from the model is split by
slice instead: for every slicing spec, the examples are grouped by the values
of the spec's columns with NumPy, TFMA's own slicer names each distinct group
(so the slice keys are exactly TFMA's), and one extract per (batch, slice)
carries that group's labels, predictions and weights, marked with GROUP_KEY.

Only combiners that read GROUP_KEY can take such extracts (the shared binary
metrics in components/binary_metrics.py do); components/evaluation.py switches
this on only when every configured metric is one of them. Anything this code
cannot group exactly (a slicing column with several values per example or a
ragged batch, SQL slices, cross slices, confidence intervals, a minimum slice
size) takes TFMA's own unbatch-and-slice path, per batch or for the whole run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants, types
from tensorflow_model_analysis.extractors import slice_key_extractor, unbatch_extractor
from tensorflow_model_analysis.slicer import slice_accessor, slicer_lib

# Written into each grouped extract (the number of examples it holds) and read by
# the combiners that accept groups; TFMA passes it through to them because their
# preprocessor's include filter names it.
GROUP_KEY = "_slice_group_size"
# TFMA's evaluator runs after the stage of this name, so the grouping stage keeps it.
STAGE_NAME = slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME
# What a metric combiner reads from an extract (StandardMetricInputs); the rest
# (features, raw input) is not carried into the groups.
_CARRIED_KEYS = (tfma.LABELS_KEY, tfma.PREDICTIONS_KEY, tfma.EXAMPLE_WEIGHTS_KEY)
_UNGROUPED = "ungrouped"
_REPLACED_STAGES = (unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME,
                    slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME)


def supports(eval_config: tfma.EvalConfig) -> bool:
    """Whether grouping gives TFMA's results exactly for this config's slicing and options.

    Confidence intervals resample examples and a minimum slice size counts
    them, so both need one element per example; SQL and cross slices are
    computed elsewhere in TFMA; a query key groups examples its own way.
    """
    options = eval_config.options
    return not (any(spec.slice_keys_sql for spec in eval_config.slicing_specs)
                or eval_config.cross_slicing_specs
                or options.compute_confidence_intervals.value
                or options.min_slice_size.value > 1
                or any(spec.query_key for spec in eval_config.metrics_specs))


def with_slice_groups(extractors: list, eval_config: tfma.EvalConfig) -> list:
    """TFMA's extractors with their unbatch and slice-key stages replaced by the grouping one."""
    names = [extractor.stage_name for extractor in extractors]
    if tuple(names[-2:]) != _REPLACED_STAGES:
        raise ValueError(f"expected TFMA's extractors to end with {_REPLACED_STAGES}, got {names}")
    return extractors[:-2] + [tfma.extractors.Extractor(
        stage_name=STAGE_NAME, ptransform=_ExtractSliceGroups(eval_config))]


@beam.ptransform_fn
def _ExtractSliceGroups(batches, eval_config: tfma.EvalConfig):  # noqa: N802 (Beam's naming)
    specs = list(eval_config.slicing_specs) or [tfma.SlicingSpec()]
    split = batches | "GroupBySlice" >> beam.ParDo(_GroupBySliceFn(specs)).with_outputs(
        _UNGROUPED, main="grouped")
    # TFMA's own path for a batch that could not be grouped exactly.
    per_example = (split[_UNGROUPED]
                   | "Unbatch" >> unbatch_extractor.UnbatchExtractor().ptransform
                   | "SliceKeys" >> slice_key_extractor.SliceKeyExtractor(
                       eval_config=eval_config, materialize=False).ptransform)
    return (split.grouped, per_example) | "Merge" >> beam.Flatten()


class _GroupBySliceFn(beam.DoFn):
    def __init__(self, specs: list) -> None:
        self._specs = specs

    def setup(self) -> None:
        self._slicers = slicers(self._specs)
        self._warned = False

    def process(self, batch: dict) -> Iterator:
        groups = slice_groups(batch, self._slicers)
        if groups is None:
            if not self._warned:
                self._warned = True
                logging.warning("A batch of the eval split could not be grouped by slice (a slicing column "
                                "with several values in one example, or labels or predictions that are not "
                                "one array per batch); TFMA slices such batches one example at a time.")
            yield beam.pvalue.TaggedOutput(_UNGROUPED, batch)
            return
        for slice_key, rows in groups.items():
            yield group_extract(batch, slice_key, rows)


def slicers(specs) -> list[tuple[slicer_lib.SingleSliceSpec, list[str]]]:
    """TFMA's slicer for each slicing spec, with the feature names it reads."""
    return [(slicer_lib.SingleSliceSpec(spec=spec), sorted(set(spec.feature_keys) | set(spec.feature_values)))
            for spec in specs]


def slice_groups(batch: dict, spec_slicers: list) -> dict[tuple, np.ndarray | None] | None:
    """Slice key -> the batch's rows in that slice (None: every row); None if it cannot be grouped exactly.

    spec_slicers: slicers(specs).
    """
    size = batch_size(batch)
    if size is None or not all(_has_rows(batch[key], size) for key in _CARRIED_KEYS
                               if batch.get(key) is not None):
        return None
    rows_by_key: dict[tuple, list] = defaultdict(list)
    for slicer, columns in spec_slicers:
        if not columns:
            rows_by_key[()].append(None)
            continue
        values = [slicing_values(batch, column, size) for column in columns]
        if any(value is None for value in values):
            return None
        for slice_key, rows in _spec_groups(slicer, columns, values):
            rows_by_key[slice_key].append(rows)
    # An example is counted once per slice key even when two specs produce the
    # same key, as in TFMA's slice-key extractor.
    return {key: _union(parts) for key, parts in rows_by_key.items()}


def _union(parts: list) -> np.ndarray | None:
    if any(part is None for part in parts):
        return None
    return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))


def _spec_groups(slicer, columns: list[str], values: list) -> Iterator[tuple[tuple, np.ndarray]]:
    """(slice key, rows) for each distinct combination of the spec's column values in the batch.

    A row missing a column is in no slice of the spec, as in TFMA.
    """
    present = np.logical_and.reduce([column_present for _, column_present in values])
    rows = np.flatnonzero(present)
    if not len(rows):
        return
    codes = np.zeros(len(rows), dtype=np.int64)
    for column_values, _ in values:
        distinct, inverse = np.unique(column_values[rows], return_inverse=True)
        codes = codes * len(distinct) + inverse
    _, first, group_of_row = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(group_of_row, kind="stable")
    bounds = np.cumsum(np.bincount(group_of_row))[:-1]
    for first_row, members in zip(rows[first], np.split(rows[order], bounds), strict=True):
        # TFMA's slicer on the group's first row: the same key, value types and
        # value matches as it gives each example of the group.
        row = {column: column_values[first_row:first_row + 1]
               for column, (column_values, _) in zip(columns, values, strict=True)}
        for slice_key in slicer.generate_slices(slice_accessor.SliceAccessor([], row)):
            yield slice_key, members


def slicing_values(batch: dict, column: str, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(value per row, whether the row has one) as TFMA's slicer reads the column; None if a row has several.

    Transformed features come first, then raw features, as in TFMA. A column
    the batch lacks (no example of it has the feature) is in no row.
    """
    sources = _transformed_sources(batch, column) or _raw_source(batch, column)
    if not sources:
        return np.zeros(size), np.zeros(size, dtype=bool)
    columns = [_at_most_one_per_row(source, size) for source in sources]
    if any(column is None for column in columns):
        return None
    values, present = columns[0]
    # Several models' transformed features: TFMA pools their values per example,
    # so they must agree for one value per row.
    for other_values, other_present in columns[1:]:
        if not (np.array_equal(present, other_present)
                and np.array_equal(values[present], other_values[present])):
            return None
    return values, present


def _transformed_sources(batch: dict, column: str) -> list:
    transformed = batch.get(constants.TRANSFORMED_FEATURES_KEY)
    if not isinstance(transformed, dict):
        return []
    if column in transformed:
        return [transformed[column]] if transformed[column] is not None else []
    # Several models: one transformed-features dict per model name.
    return [features[column] for features in transformed.values()
            if isinstance(features, dict) and features.get(column) is not None]


def _raw_source(batch: dict, column: str) -> list:
    features = batch.get(tfma.FEATURES_KEY) or {}
    return [features[column]] if features.get(column) is not None else []


def _at_most_one_per_row(value, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(value per row, present per row) of a dense or var-len batch column; None if a row has several."""
    if isinstance(value, types.VarLenTensorValue):
        return _from_var_len(value, size)
    if not isinstance(value, np.ndarray) or len(value) != size:
        return None
    if value.ndim == 2 and value.shape[1] == 0:
        return np.zeros(size, dtype=value.dtype), np.zeros(size, dtype=bool)
    if value.ndim == 2 and value.shape[1] == 1:
        value = value[:, 0]
    elif value.ndim != 1:
        return None
    return (value, np.ones(size, dtype=bool)) if _scalars(value) else None


def _from_var_len(value, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    rows = value.indices[:, 0] if value.indices.ndim == 2 and len(value.indices) else np.zeros(0, int)
    if (int(value.dense_shape[0]) != size or len(rows) != len(value.values)
            or len(np.unique(rows)) != len(rows) or not _scalars(value.values)):
        return None
    values = np.zeros(size, dtype=value.values.dtype)
    values[rows] = value.values
    present = np.zeros(size, dtype=bool)
    present[rows] = True
    return values, present


def _scalars(values: np.ndarray) -> bool:
    # Object arrays hold strings, or a ragged batch's per-row arrays (not groupable).
    return values.dtype != object or all(isinstance(item, (bytes, str)) for item in values)


def batch_size(batch: dict) -> int | None:
    """The number of examples in a batched extract, from its labels."""
    labels = batch.get(tfma.LABELS_KEY)
    if isinstance(labels, dict):
        labels = next(iter(labels.values()), None)
    return len(labels) if isinstance(labels, np.ndarray) and labels.ndim >= 1 else None


def group_extract(batch: dict, slice_key: tuple, rows: np.ndarray | None) -> dict:
    """The extract of one slice's rows: labels, predictions and weights only, marked with GROUP_KEY."""
    size = batch_size(batch) if rows is None else len(rows)
    extract = {key: _take(batch[key], rows) for key in _CARRIED_KEYS if batch.get(key) is not None}
    extract[GROUP_KEY] = size
    extract[tfma.SLICE_KEY_TYPES_KEY] = slicer_lib.slice_keys_to_numpy_array([slice_key])
    return extract


def _has_rows(value, size: int) -> bool:
    """Whether `value` (or every value of a dict, per model or output) has one entry per example."""
    if isinstance(value, dict):
        return all(_has_rows(item, size) for item in value.values())
    return isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == size


def _take(value, rows: np.ndarray | None):
    if rows is None:
        return value
    if isinstance(value, dict):
        return {key: _take(item, rows) for key, item in value.items()}
    return value[rows]
