"""Exports the trained model as a SavedModel with the Transform graph embedded."""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_transform as tft

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"


def export_serving_model(
    model: keras.Model, tft_output: tft.TFTransformOutput, label_column: str, export_dir: str
) -> None:
    """Writes a SavedModel with two signatures.

    - serving_default: serialized raw tf.Example (no label needed) -> probabilities.
    - transform_features: serialized raw tf.Example -> transformed features, which
      TFMA uses to read the transformed label.
    """
    module = tf.Module()
    module.model = model
    module.tft_layer = tft_output.transform_features_layer()
    raw_spec = tft_output.raw_feature_spec()
    serving_spec = {name: spec for name, spec in raw_spec.items() if name != label_column}
    input_names = list(model.input.keys()) if isinstance(model.input, dict) else model.input_names

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def serve(serialized):
        transformed = module.tft_layer(tf.io.parse_example(serialized, serving_spec))
        probabilities = module.model({name: transformed[name] for name in input_names})
        return {"probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def transform_features(serialized):
        return module.tft_layer(tf.io.parse_example(serialized, raw_spec))

    module.serve = serve
    module.transform_features = transform_features
    with _without_keras_call_traces():
        tf.saved_model.save(
            module,
            export_dir,
            signatures={SERVING_SIGNATURE: serve, TRANSFORM_SIGNATURE: transform_features},
        )


def _without_keras_call_traces():
    """A scope in which tf.saved_model.save stores no traced calls of tf_keras layers.

    Transform's layer is a tf_keras model, and saving it would otherwise trace
    its call several times over for reloading it as a Keras object, which
    nothing here does: the signatures above are what serving and TFMA load.
    Those traces were three quarters of the export's time (py-spy).
    """
    from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope

    return keras_option_scope(save_traces=False)
