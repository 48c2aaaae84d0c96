"""Which Keras the Trainer builds and trains with, decided once per process.

Keras 3 (the `keras` package, what `tf.keras` is on TF 2.16 with keras 3
installed) everywhere, except in the processes of a multi-worker training
(trainer/worker.py), which use tf-keras (Keras 2). Keras 3's `fit` cannot
train under MultiWorkerMirroredStrategy here: two workers on loopback fail in
the first step with "ValueError: Attempt to convert a value (PerReplica:{...})"
(docs/training.md has the minimal case), while tf-keras trains.

`TF_USE_LEGACY_KERAS` cannot make this choice: TFT sets it itself when it is
unset, so its value depends on import order. The worker launchers set
LEGACY_KERAS_ENV in their workers' environment instead.
"""

from __future__ import annotations

import os

from trainer.workers import LEGACY_KERAS_ENV

LEGACY = os.environ.get(LEGACY_KERAS_ENV) == "1"

if LEGACY:
    import tf_keras as keras
else:
    import keras

__all__ = ["LEGACY", "keras"]
