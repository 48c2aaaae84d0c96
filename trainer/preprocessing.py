"""The tf.Transform preprocessing_fn: raw taxi columns to model-ready tensors.

Every output is a dense tensor of shape [batch]. Missing values are handled here
so that the model never sees a sparse input.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from trainer.features import (
    LABEL_KEY,
    OOV_BUCKETS,
    feature_spec_from_config,
    label_spec_from_config,
    slice_bucket_name,
    transformed_name,
    vocabulary_filename,
)


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """Transforms raw features; TFX calls this by dotted path from the Transform component."""
    spec = feature_spec_from_config(custom_config)
    outputs = {}
    # Analyzers see only the values present, so one analysis pass suffices;
    # missing values are placed afterwards.
    for column in spec.numeric:
        scaled = tft.scale_to_z_score(_as_float(inputs[column]))
        # Missing -> 0, the mean after scaling.
        outputs[transformed_name(column)] = _densify(scaled, 0.0)
    for column, buckets in spec.bucketized.items():
        bucket_ids = tft.bucketize(_as_float(inputs[column]), buckets)
        # Missing -> an extra bucket of its own: absence can be informative.
        outputs[transformed_name(column)] = _densify(bucket_ids, tf.constant(buckets, tf.int64))
    for column, size in spec.integer_categorical.items():
        outputs[transformed_name(column)] = _ids_in_range(inputs[column], size)
    for column, top_k in spec.string_categorical.items():
        outputs[transformed_name(column)] = tft.compute_and_apply_vocabulary(
            _densify(inputs[column], ""),
            top_k=top_k,
            num_oov_buckets=OOV_BUCKETS,
            vocab_filename=vocabulary_filename(column),
        )
    for column, boundaries in spec.slice_buckets.items():
        outputs[slice_bucket_name(column)] = _bucket_by_boundaries(inputs[column], boundaries)
    label = label_spec_from_config(custom_config)
    if label.column in inputs:
        outputs[LABEL_KEY] = _label(inputs, label)
    return outputs


def _densify(tensor: Any, default: Any) -> tf.Tensor:
    """A [batch] dense tensor from a [batch, 0-or-1] sparse or [batch, 1] dense feature."""
    if isinstance(tensor, tf.SparseTensor):
        batch = tensor.dense_shape[0]
        tensor = tf.sparse.to_dense(
            tf.SparseTensor(tensor.indices, tensor.values, [batch, 1]), default_value=default
        )
    elif isinstance(tensor, tf.RaggedTensor):
        tensor = tensor.to_tensor(default_value=default, shape=[None, 1])
    return tf.reshape(tensor, [-1])


def _as_float(tensor: Any) -> Any:
    if isinstance(tensor, tf.SparseTensor):
        return tf.SparseTensor(tensor.indices, tf.cast(tensor.values, tf.float32), tensor.dense_shape)
    return tf.cast(tensor, tf.float32)


def _bucket_by_boundaries(tensor: Any, boundaries: list[float]) -> tf.Tensor:
    """How many boundaries the value reaches (0..len); missing values count as bucket -1."""
    values = _densify(_as_float(tensor), float("nan"))
    reached = tf.reduce_sum(
        tf.cast(values[:, None] >= tf.constant(boundaries, tf.float32)[None, :], tf.int64), axis=1)
    return tf.where(tf.math.is_nan(values), tf.constant(-1, tf.int64), reached)


def _ids_in_range(tensor: Any, size: int) -> tf.Tensor:
    """Integer ids 0..size-1 pass through; missing or out-of-range values map to id `size`."""
    ids = tf.cast(_densify(tensor, -1), tf.int64)
    valid = tf.logical_and(ids >= 0, ids < size)
    return tf.where(valid, ids, tf.constant(size, tf.int64))


def _label(inputs: dict[str, Any], label) -> tf.Tensor:
    value = tf.cast(_densify(inputs[label.column], 0), tf.float32)
    if label.reference_column is None:
        return tf.cast(value > 0.5, tf.int64)
    reference = tf.cast(_densify(inputs[label.reference_column], 0), tf.float32)
    return tf.cast(value > label.fraction * reference, tf.int64)
