"""The Trainer's record of what it did: written by trainer.run, read by lineage and the report.

Light on purpose (no TensorFlow), so that readers of finished runs import it cheaply.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

# Written beside the TensorBoard logs in the Trainer's ModelRun artifact.
TRAINING_RECORD = "training_record.json"


@dataclass
class TrainingRecord:
    """What the Trainer did, written beside the TensorBoard logs for lineage and reports."""

    strategy: str
    devices: list[str]
    replicas: int
    batch_size_per_replica: int
    global_batch_size: int
    train_examples: int
    eval_examples: int
    steps_per_epoch: int
    steps_per_execution: int
    epochs_requested: int
    epochs_run: int
    first_epoch: int  # > 0 when training resumed from a backup
    resumed_from_backup: bool
    train_seconds: float
    examples_per_second: float
    final_metrics: dict[str, float]
    history: dict[str, list[float]]
    # The model's hyperparameters, and whether a Tuner chose them.
    hyperparameters: dict[str, object] = field(default_factory=dict)
    tuned: bool = False
    # Processes that trained the model together (MultiWorkerMirroredStrategy when > 1).
    workers: int = 1


def read_training_record(model_run_dir: str) -> dict | None:
    """The record a Trainer wrote into its ModelRun folder, or None (a local folder only)."""
    path = os.path.join(model_run_dir, TRAINING_RECORD)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as reader:
        return json.load(reader)


# TFX's Tuner writes its trials here, in its TunerResults artifact
# (tfx/components/tuner/executor.py: a list of {trial_id, score, <hyperparameters>}).
TUNER_RESULTS = "tuner_results.json"


def read_tuner_trials(tuner_results_dir: str) -> list[dict] | None:
    """The Tuner's completed trials, best score first, or None when the folder holds none."""
    path = os.path.join(tuner_results_dir, TUNER_RESULTS)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as reader:
        trials = json.load(reader)
    return sorted(trials, key=lambda trial: -(trial.get("score") or float("-inf")))
