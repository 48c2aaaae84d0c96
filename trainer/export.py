"""Exports the trained model as a SavedModel with the Transform graph embedded."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_transform as tft

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
# Raw columns in, probabilities out, no tf.Example in between (what `predict` calls).
COLUMNS_SIGNATURE = "serving_columns"
# Its inputs: each raw column as a [batch] tensor, and beside it a [batch] bool tensor
# named PRESENT_PREFIX + column, false where the cell is missing.
PRESENT_PREFIX = "present__"


def export_serving_model(
    model: keras.Model, tft_output: tft.TFTransformOutput, label_column: str, export_dir: str
) -> None:
    """Writes a SavedModel with three signatures.

    - serving_default: serialized raw tf.Example (no label needed) -> probabilities.
    - serving_columns: the raw columns themselves, each with its presence mask
      (see PRESENT_PREFIX) -> probabilities; the same model and Transform graph,
      without serializing and parsing tf.Examples.
    - transform_features: serialized raw tf.Example -> transformed features, which
      TFMA uses to read the transformed label.
    """
    module = tf.Module()
    module.model = model
    module.tft_layer = tft_output.transform_features_layer()
    raw_spec = tft_output.raw_feature_spec()
    serving_spec = {name: spec for name, spec in raw_spec.items() if name != label_column}
    input_names = list(model.input.keys()) if isinstance(model.input, dict) else model.input_names

    # One trace of the Transform layer and the model, called by both serving
    # signatures: each trace imports the whole Transform graph (py-spy: the
    # signatures' tracing was most of the export's time).
    @tf.function(input_signature=[parsed_specs(serving_spec)], autograph=False)
    def probabilities(raw):
        transformed = module.tft_layer(raw)
        return {"probabilities": module.model({name: transformed[name] for name in input_names})}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def serve(serialized):
        return probabilities(tf.io.parse_example(serialized, serving_spec))

    @tf.function(input_signature=[column_specs(serving_spec)], autograph=False)
    def serve_columns(columns):
        return probabilities({name: raw_feature(columns[name], columns[PRESENT_PREFIX + name], spec)
                              for name, spec in serving_spec.items()})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def transform_features(serialized):
        return module.tft_layer(tf.io.parse_example(serialized, raw_spec))

    module.serve = serve
    module.serve_columns = serve_columns
    module.transform_features = transform_features
    with _without_keras_call_traces():
        tf.saved_model.save(
            module,
            export_dir,
            signatures={SERVING_SIGNATURE: serve, COLUMNS_SIGNATURE: serve_columns,
                        TRANSFORM_SIGNATURE: transform_features},
        )


def parsed_specs(feature_spec: dict) -> dict:
    """What tf.io.parse_example gives for each feature: sparse for a VarLenFeature, else dense."""
    specs = {}
    for name, spec in feature_spec.items():
        if isinstance(spec, tf.io.VarLenFeature):
            specs[name] = tf.SparseTensorSpec([None, None], spec.dtype)
        else:
            specs[name] = tf.TensorSpec([None, *spec.shape], spec.dtype, name=name)
    return specs


def column_specs(feature_spec: dict) -> dict[str, tf.TensorSpec]:
    """The serving_columns inputs: a [batch] tensor per raw column and its [batch] presence mask."""
    specs = {}
    for name, spec in feature_spec.items():
        specs[name] = tf.TensorSpec([None], spec.dtype, name=name)
        specs[PRESENT_PREFIX + name] = tf.TensorSpec([None], tf.bool, name=PRESENT_PREFIX + name)
    return specs


def raw_feature(values: tf.Tensor, present: tf.Tensor, spec):
    """A column as tf.io.parse_example would give it: sparse for a VarLenFeature, else dense."""
    if isinstance(spec, tf.io.VarLenFeature):
        rows = tf.where(present)
        indices = tf.concat([rows, tf.zeros_like(rows)], axis=1)
        batch = tf.shape(values, out_type=tf.int64)[0]
        return tf.SparseTensor(indices, tf.boolean_mask(values, present), tf.stack([batch, 1]))
    # A FixedLenFeature: every row has its value (predict refuses rows without one).
    return tf.reshape(values, [-1, *spec.shape])


def _without_keras_call_traces():
    """A scope in which tf.saved_model.save stores no traced calls of tf_keras layers.

    Transform's layer is a tf_keras model, and saving it would otherwise trace
    its call several times over for reloading it as a Keras object, which
    nothing here does: the signatures above are what serving and TFMA load.
    Those traces were three quarters of the export's time (py-spy).
    """
    from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope

    return keras_option_scope(save_traces=False)
