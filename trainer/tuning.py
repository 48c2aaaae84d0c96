"""The Tuner's tuner_fn: a KerasTuner random search over the model's hyperparameters.

TFX calls ``trainer.tuning.tuner_fn`` by dotted path when ``tuning.enabled`` is
true. The search space is ``tuning.search_space`` of the config (in
``custom_config["tuning"]``); every trial trains the same model the Trainer
builds, on the same datasets, for ``tuning.epochs_per_trial`` epochs and is
scored by its best validation AUC. The Trainer then reads the best values
through its ``hyperparameters`` input (trainer.run.tuned_values).
"""

from __future__ import annotations

from typing import Any

import keras
import keras_tuner
from tfx.components.tuner.component import TunerFnResult

from trainer.model import ModelHyperparameters, build_model
from trainer.run import layers_as_choice, layers_from_choice, load_training_data

OBJECTIVE = "val_auc"
SEARCH_FOLDER = "search"


def tuner_fn(fn_args: Any) -> TunerFnResult:
    """A RandomSearch over the configured choices, seeded, writing its trials under the working dir."""
    config = fn_args.custom_config
    training, tuning = config["training"], config["tuning"]
    seed = int(training["seed"])
    keras.utils.set_random_seed(seed)
    data = load_training_data(fn_args, training, int(training["batch_size_per_replica"]))
    space = tuning["search_space"]

    def build(hp: keras_tuner.HyperParameters) -> keras.Model:
        chosen = {
            "hidden_units": layers_from_choice(hp.Choice(
                "hidden_units", [layers_as_choice(units) for units in space["hidden_units"]])),
            "learning_rate": hp.Choice("learning_rate", space["learning_rate"]),
            "dropout": hp.Choice("dropout", space["dropout"]),
            "embedding_dim": hp.Choice("embedding_dim", space["embedding_dim"]),
        }
        hparams = ModelHyperparameters.from_training({**training, **chosen})
        return build_model(data.spec, data.categorical_sizes, hparams)

    tuner = keras_tuner.RandomSearch(
        build,
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        max_trials=int(tuning["max_trials"]),
        seed=seed,
        directory=fn_args.working_dir,
        project_name=SEARCH_FOLDER,
        overwrite=True,
    )
    return TunerFnResult(tuner=tuner, fit_kwargs={
        "x": data.train_dataset,
        "validation_data": data.eval_dataset,
        "steps_per_epoch": data.steps_per_epoch,
        "validation_steps": data.validation_steps,
        "epochs": int(tuning["epochs_per_trial"]),
        "verbose": 2,
    })
