"""The Trainer's run_fn: builds datasets and the model, trains, exports.

TFX calls ``trainer.run.run_fn`` by dotted path, locally and inside the
Kubeflow container alike. Settings arrive in ``fn_args.custom_config``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from trainer.callbacks import LearningRateLogger, LossGuard, ResumableBackup
from trainer.datasets import count_examples, make_dataset, steps_for
from trainer.distribution import StrategyPlan, make_strategy
from trainer.export import export_serving_model
from trainer.features import (
    FeatureSpec,
    feature_spec_from_config,
    label_spec_from_config,
    vocabulary_filename,
)
from trainer.keras_choice import keras
from trainer.model import ModelHyperparameters, build_model
from trainer.record import TRAINING_RECORD, TrainingRecord
from trainer.workers import WorkerSpec, run_local_workers

log = logging.getLogger(__name__)
# The Keras model without the Transform graph, for analysis in Python.
KERAS_MODEL_FILE = "model.keras"
# TensorBoard batch-level scalars every this many steps (or every call into
# TensorFlow, when training.steps_per_execution is larger).
TENSORBOARD_UPDATE_STEPS = 16
# training: keys the Tuner searches (configs.settings.SearchSpaceConfig).
TUNABLE = ("hidden_units", "learning_rate", "dropout", "embedding_dim")


def run_fn(fn_args: Any) -> None:
    """Trains and exports the model (TFX Trainer entry point), on training.workers processes."""
    if int(fn_args.custom_config["training"].get("workers", 1)) > 1:
        train_on_workers(fn_args)
    else:
        train_and_export(fn_args)


def train_on_workers(fn_args: Any) -> None:
    """run_fn with training.workers >= 2: on local processes, or as a TFJob (custom_config["launcher"])."""
    config = fn_args.custom_config
    training = config["training"]
    spec = WorkerSpec.from_fn_args(fn_args)
    launcher = config.get("launcher") or {"kind": "local"}
    if launcher["kind"] == "tfjob":
        from trainer.tfjob import run_tfjob

        run_tfjob(spec, int(training["workers"]), launcher)
    else:
        run_local_workers(spec, int(training["workers"]), int(training.get("worker_port", 0)),
                          log_dir=os.path.join(config["backup_root"], "worker-logs"))


@dataclass(frozen=True)
class TrainingData:
    """The Transform outputs as the model reads them: datasets, their sizes and the id-valued inputs."""

    tft_output: Any
    spec: FeatureSpec
    categorical_sizes: dict[str, int]
    train_dataset: Any
    eval_dataset: Any
    train_examples: int
    eval_examples: int
    steps_per_epoch: int
    validation_steps: int


def load_training_data(fn_args: Any, training: dict[str, Any], global_batch: int,
                       workers: int = 1) -> TrainingData:
    """Datasets over the transformed splits (shared by the Trainer and the Tuner).

    In one process the validation batches are read once and kept in memory:
    every epoch validates on the same ones, and on exactly validation_steps of
    them (Keras runs whole steps_per_execution groups, which read 48 batches
    for 39 steps of the taxi data), without setting up tf.data's reader again
    each epoch (0.5 s of the taxi run's 3.3 s of fitting). Multi-worker
    training keeps the endless dataset: its workers must take equal steps.
    """
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    schema = tft_output.transformed_metadata.schema
    spec = feature_spec_from_config(fn_args.custom_config)
    inputs = spec.model_inputs()
    train_examples = count_examples(fn_args.train_files, fn_args.data_accessor, schema)
    eval_examples = count_examples(fn_args.eval_files, fn_args.data_accessor, schema)
    cap = training.get("max_examples_per_epoch")
    validation_steps = steps_for(eval_examples, global_batch, training.get("max_validation_examples"))
    eval_dataset = make_dataset(fn_args.eval_files, fn_args.data_accessor, schema, global_batch,
                                seed=None, inputs=inputs)
    if workers == 1:
        eval_dataset = eval_dataset.take(validation_steps).cache()
    vocabulary_sizes = {column: tft_output.vocabulary_size_by_name(vocabulary_filename(column))
                        for column in spec.string_categorical}
    return TrainingData(
        tft_output=tft_output,
        spec=spec,
        categorical_sizes=spec.categorical_sizes(vocabulary_sizes),
        train_dataset=make_dataset(fn_args.train_files, fn_args.data_accessor, schema, global_batch,
                                   int(training["seed"]), inputs),
        eval_dataset=eval_dataset,
        train_examples=train_examples,
        eval_examples=eval_examples,
        steps_per_epoch=steps_for(train_examples, global_batch, cap),
        validation_steps=validation_steps,
    )


def train_and_export(fn_args: Any, extra_callbacks: tuple = (), strategy_and_plan: tuple | None = None
                     ) -> TrainingRecord:
    """Trains in this process; extra_callbacks run after the standard ones (trainer.standalone uses it).

    A multi-worker process (trainer.worker) passes the strategy it created first.
    """
    config = fn_args.custom_config
    # The Tuner's best values, when a Tuner ran, replace the configured ones.
    tuned = tuned_values(getattr(fn_args, "hyperparameters", None))
    training = {**config["training"], **tuned}
    strategy, plan = strategy_and_plan or make_strategy(int(training["cpu_replicas"]))
    keras.utils.set_random_seed(int(training["seed"]))
    per_replica = int(training["batch_size_per_replica"])
    global_batch = per_replica * strategy.num_replicas_in_sync
    log.info("Batch: %d per replica x %d replicas = %d", per_replica, strategy.num_replicas_in_sync,
             global_batch)
    steps_per_execution = steps_per_execution_for(int(training.get("steps_per_execution", 1)),
                                                  strategy.num_replicas_in_sync)
    data = load_training_data(fn_args, training, global_batch, plan.workers)
    hparams = ModelHyperparameters.from_training(training, steps_per_execution)
    with strategy.scope():
        model = build_model(data.spec, data.categorical_sizes, hparams)

    backup_dir = backup_directory(config["backup_root"], fn_args.train_files, training)
    # tf-keras empties its backup folder at the end but leaves the folder.
    resumed = tf.io.gfile.exists(backup_dir) and bool(tf.io.gfile.listdir(backup_dir))
    started = time.perf_counter()
    history = model.fit(
        data.train_dataset,
        steps_per_epoch=data.steps_per_epoch,
        epochs=int(training["epochs"]),
        validation_data=data.eval_dataset,
        validation_steps=data.validation_steps,
        callbacks=[*training_callbacks(training, fn_args.model_run_dir, backup_dir, steps_per_execution),
                   *extra_callbacks],
        verbose=2,
    )
    train_seconds = time.perf_counter() - started
    epochs_run = len(history.history.get("loss", []))
    export_serving_model(model, data.tft_output, label_spec_from_config(config).column,
                         fn_args.serving_model_dir)
    model.save(os.path.join(fn_args.model_run_dir, KERAS_MODEL_FILE))
    record = TrainingRecord(
        strategy=plan.kind,
        workers=plan.workers,
        devices=list(plan.devices),
        replicas=strategy.num_replicas_in_sync,
        batch_size_per_replica=per_replica,
        global_batch_size=global_batch,
        train_examples=data.train_examples,
        eval_examples=data.eval_examples,
        steps_per_epoch=data.steps_per_epoch,
        steps_per_execution=steps_per_execution,
        epochs_requested=int(training["epochs"]),
        epochs_run=epochs_run,
        first_epoch=history.epoch[0] if history.epoch else 0,
        resumed_from_backup=resumed,
        train_seconds=round(train_seconds, 3),
        examples_per_second=round(epochs_run * data.steps_per_epoch * global_batch / train_seconds, 1),
        final_metrics={k: float(v[-1]) for k, v in history.history.items()},
        history={k: [float(x) for x in v] for k, v in history.history.items()},
        hyperparameters={**asdict(hparams), "hidden_units": list(hparams.hidden_units)},
        tuned=bool(tuned),
    )
    write_training_record(fn_args.model_run_dir, record, plan)
    return record


def tuned_values(best_hyperparameters: dict | None) -> dict[str, Any]:
    """training: values from the Tuner's best_hyperparameters (KerasTuner's config dict), if any."""
    if not best_hyperparameters:
        return {}
    values = dict(best_hyperparameters.get("values", {}))
    if isinstance(values.get("hidden_units"), str):
        values["hidden_units"] = layers_from_choice(values["hidden_units"])
    return {key: values[key] for key in TUNABLE if key in values}


def layers_as_choice(hidden_units: list[int]) -> str:
    """KerasTuner chooses among scalars, so layer sizes travel as "128,64"."""
    return ",".join(str(units) for units in hidden_units)


def layers_from_choice(choice: str) -> list[int]:
    return [int(units) for units in choice.split(",")]


def steps_per_execution_for(requested: int, replicas: int) -> int:
    """The steps per execution Keras can run: one under a multi-replica strategy.

    Keras 3 fails with "You must feed a value for placeholder tensor" when it
    runs several steps per execution under MirroredStrategy with more than one
    replica (keras-team/keras#19246, open); measured here with 2 CPU replicas.
    """
    if replicas > 1 and requested > 1:
        log.warning("training.steps_per_execution=%d needs one replica; running 1 step per execution "
                    "on %d replicas (keras-team/keras#19246)", requested, replicas)
        return 1
    return requested


def backup_directory(backup_root: str, train_files: list[str], training: dict[str, Any]) -> str:
    """A backup folder unique to this data and these hyperparameters.

    A Trainer killed mid-run resumes from here when the pipeline is re-run on the
    same inputs; different inputs never pick up a stale backup.
    """
    key = json.dumps({"files": sorted(train_files), "training": training}, sort_keys=True)
    return os.path.join(backup_root, hashlib.sha256(key.encode()).hexdigest()[:16])


def training_callbacks(training: dict[str, Any], log_dir: str, backup_dir: str,
                       steps_per_execution: int = 1) -> list:
    return [
        LossGuard(float(training["max_loss"])),
        ResumableBackup(backup_dir, float(training.get("backup_interval_seconds", 0.0))),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-5),
        keras.callbacks.EarlyStopping(
            monitor="val_auc",
            mode="max",
            patience=int(training["early_stopping_patience"]),
            restore_best_weights=True,
        ),
        LearningRateLogger(),
        # Keras calls batch callbacks once per execution of steps_per_execution steps.
        keras.callbacks.TensorBoard(log_dir=log_dir,
                                    update_freq=max(1, TENSORBOARD_UPDATE_STEPS // steps_per_execution)),
    ]


def write_training_record(model_run_dir: str, record: TrainingRecord, plan: StrategyPlan) -> None:
    log.info("Training record: %s (%s)", asdict(record), plan.describe())
    with tf.io.gfile.GFile(os.path.join(model_run_dir, TRAINING_RECORD), "w") as writer:
        writer.write(json.dumps(asdict(record), indent=2))
