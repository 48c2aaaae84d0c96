"""The user module of the stock pipelines' Trainer: a tiny Keras model on four taxi columns.

Written for the tests: a plain `run_fn` as any TFX user writes one, with a
TensorBoard log in the ModelRun folder and a serving signature on serialized
tf.Examples that TFMA evaluates. `custom_config={"fail": True}` makes it raise,
as a broken user module does.
"""

from __future__ import annotations

import os

import tensorflow as tf
from tfx_bsl.public import tfxio

LABEL = "tipped"
NUMERIC = ("trip_miles", "fare", "trip_start_hour")
CATEGORY, CATEGORY_VALUE = "payment_type", "Credit Card"
BATCH = 64


def _columns(features: dict) -> tf.Tensor:
    """One float row per example: the numeric columns, scaled, and whether the fare went on a card."""
    numeric = [tf.reshape(tf.cast(features[name], tf.float32), [-1, 1]) / scale
               for name, scale in zip(NUMERIC, (10.0, 50.0, 24.0), strict=True)]
    card = tf.cast(tf.equal(tf.reshape(features[CATEGORY], [-1, 1]), CATEGORY_VALUE), tf.float32)
    return tf.concat([*numeric, card], axis=1)


def _dataset(fn_args, files, schema) -> tf.data.Dataset:
    options = tfxio.TensorFlowDatasetOptions(batch_size=BATCH, label_key=LABEL, shuffle_seed=7)
    dataset = fn_args.data_accessor.tf_dataset_factory(files, options, schema)
    return dataset.map(lambda features, label: (_columns(features), tf.cast(label, tf.float32)))


def run_fn(fn_args) -> None:
    if (fn_args.custom_config or {}).get("fail"):
        raise RuntimeError("the stock test module was told to fail (custom_config fail=True)")
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils

    schema = io_utils.parse_pbtxt_file(fn_args.schema_path, schema_pb2.Schema())
    tf.keras.utils.set_random_seed(7)
    model = tf.keras.Sequential([tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(8, activation="relu"),
                                 tf.keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=[tf.keras.metrics.AUC(name="auc")])
    model.fit(_dataset(fn_args, fn_args.train_files, schema), steps_per_epoch=fn_args.train_steps // 2,
              epochs=2, validation_data=_dataset(fn_args, fn_args.eval_files, schema),
              validation_steps=fn_args.eval_steps,
              callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)])
    _export(model, fn_args.serving_model_dir)


def _export(model, directory: str) -> None:
    spec = {name: tf.io.FixedLenFeature([1], tf.float32) for name in ("trip_miles", "fare")}
    spec["trip_start_hour"] = tf.io.FixedLenFeature([1], tf.int64)
    spec[CATEGORY] = tf.io.FixedLenFeature([1], tf.string)
    holder = tf.Module()
    holder.model = model

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized):
        return {"probability": holder.model(_columns(tf.io.parse_example(serialized, spec)))}

    os.makedirs(directory, exist_ok=True)
    tf.saved_model.save(holder, directory, signatures={"serving_default": serve})
