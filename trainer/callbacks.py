"""Keras callbacks the Trainer uses beyond the stock ones."""

from __future__ import annotations

import json
import logging
import math
import time

import tensorflow as tf

from trainer.keras_choice import LEGACY, keras

log = logging.getLogger(__name__)


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


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore keeping two checkpoints, and starting afresh when neither can be read.

    Keras writes the weights file in place. A Trainer killed while writing it
    (SIGKILL during an epoch's save) left a truncated file behind, and every
    later run then failed to load it ("bad object header version number").
    With double_checkpoint Keras falls back on the previous epoch's copy; when
    that fails too, the backup is discarded and training starts from epoch 0,
    which costs time but never blocks the pipeline.

    tf-keras (multi-worker training) has neither problem nor option: it saves
    through tf.train.CheckpointManager, which writes a new checkpoint beside
    the last one and then points to it. Its chief writes the backup folder and
    the other workers write temporary folders inside it, which it removes.

    An epoch is backed up when at least `interval_seconds` have passed since
    training began or since the last backup, so a crash loses at most about
    that much training; 0 backs up every epoch. Short epochs add up before a
    backup (on the taxi data each took 0.2 s and its backup 34 ms), long ones
    are each backed up. Multi-worker training backs up every epoch: its
    workers save together, so they must never disagree on whether to.
    """

    def __init__(self, backup_dir: str, interval_seconds: float = 0.0):
        if LEGACY:
            super().__init__(backup_dir)
        else:
            super().__init__(backup_dir, double_checkpoint=True)
        self.interval_seconds = 0.0 if LEGACY else interval_seconds
        self._last_backup = time.monotonic()

    def on_train_begin(self, logs=None):
        self._last_backup = time.monotonic()
        if LEGACY:
            super().on_train_begin(logs)
            return
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            log.warning("the training backup in %s cannot be read (%s); training from the first epoch",
                        self.backup_dir, error)
            tf.io.gfile.rmtree(self.backup_dir)
            self.model._initial_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() - self._last_backup >= self.interval_seconds:
            super().on_epoch_end(epoch, logs)
            self._last_backup = time.monotonic()


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs, for TensorBoard."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(tf.convert_to_tensor(self.model.optimizer.learning_rate))
