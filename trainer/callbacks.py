"""Keras callbacks the Trainer uses beyond the stock ones."""

from __future__ import annotations

import math

import keras


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf or exploded; no model is exported."""


class LossGuard(keras.callbacks.Callback):
    """Stops training with an error as soon as the loss is not finite or exceeds a bound.

    Keras calls it once per execution, every training.steps_per_execution steps.

    Keras' TerminateOnNaN only stops training, after which TFX would export and
    evaluate the broken model. Raising fails the Trainer, so nothing downstream runs.
    """

    def __init__(self, max_loss: float):
        super().__init__()
        self.max_loss = max_loss

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss) or loss > self.max_loss:
            raise TrainingDivergedError(
                f"training diverged at batch {batch}: loss is {loss} "
                f"(bound training.max_loss={self.max_loss}); lower training.learning_rate"
            )


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs, for TensorBoard."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
