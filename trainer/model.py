"""The Keras model over the Transform outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.features import FeatureSpec, transformed_name
from trainer.keras_choice import keras
from trainer.metrics import F1Score


@dataclass(frozen=True)
class ModelHyperparameters:
    hidden_units: tuple[int, ...]
    embedding_dim: int
    dropout: float
    learning_rate: float
    steps_per_execution: int = 1

    @classmethod
    def from_training(cls, training: dict[str, Any], steps_per_execution: int = 1) -> ModelHyperparameters:
        """From the Trainer's custom_config["training"] (the `training:` section), tuned values merged."""
        return cls(
            hidden_units=tuple(training["hidden_units"]),
            embedding_dim=int(training["embedding_dim"]),
            dropout=float(training["dropout"]),
            learning_rate=float(training["learning_rate"]),
            steps_per_execution=steps_per_execution,
        )


def build_model(
    spec: FeatureSpec, categorical_sizes: dict[str, int], hparams: ModelHyperparameters
) -> keras.Model:
    """A wide-and-deep style classifier returning P(big tipper).

    Numeric features enter as scalars; every id-valued feature gets its own
    embedding. The caller builds the model inside the distribution strategy scope.

    Args:
      spec: the declared features.
      categorical_sizes: transformed feature name -> number of distinct ids.
      hparams: layer sizes, dropout and learning rate.
    """
    inputs, parts = {}, []
    for column in spec.numeric:
        name = transformed_name(column)
        inputs[name] = keras.Input(shape=(), name=name, dtype="float32")
        parts.append(keras.layers.Reshape((1,))(inputs[name]))
    for name, size in sorted(categorical_sizes.items()):
        inputs[name] = keras.Input(shape=(), name=name, dtype="int64")
        embedded = keras.layers.Embedding(size, hparams.embedding_dim, name=f"{name}_embedding")(
            inputs[name]
        )
        parts.append(embedded)
    hidden = keras.layers.Concatenate()(parts)
    for units in hparams.hidden_units:
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
        if hparams.dropout:
            hidden = keras.layers.Dropout(hparams.dropout)(hidden)
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(hidden)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hparams.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[
            keras.metrics.AUC(name="auc"),
            keras.metrics.BinaryAccuracy(name="binary_accuracy"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            F1Score(name="f1"),
        ],
        steps_per_execution=hparams.steps_per_execution,
    )
    # Keras otherwise creates Adam's slot variables inside the first traced
    # training step, and tf.function then traces that step a second time, now
    # without variable creation: about a second of the taxi run's Trainer.
    model.optimizer.build(model.trainable_variables)
    return model
