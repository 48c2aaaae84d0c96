"""A manual bless (`models bless RUN`): a model the Evaluator did not bless, pushed by hand.

TFX has no way to override the Evaluator (tensorflow/tfx#4390). This pushes
one run's trained model as the newest version of the serving folder, the way
a rollback publishes one (publish.py), with the user and the reason in its
push record. It refuses, with the cause, a run whose data failed the
validation gate (its model, if any, was trained on data the gate stopped) and
a run whose model is incomplete: no Model from a finished Trainer, or a
SavedModel folder without its graph or variables. The Verdict's decision is
left as it was: the record says who overrode it, and why.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.versioned_pusher.properties import BLESSED_BY
from components.versioned_pusher.versions import (
    FINGERPRINT,
    MODEL_URI,
    RUN_ID,
    complete_local_versions,
    local_model_fingerprint,
)
from configs.settings import ConfigError
from pipeline.metadata.outcome import GATE, RunOutcome
from pipeline.serving.publish import fingerprint, next_version, publish_version

TRAINER = "Trainer"
# Where a TFX Trainer writes the SavedModel inside its Model artifact (TFX's path_constants).
SERVING_MODEL_DIR = "Format-Serving"
FINISHED = ("COMPLETE", "CACHED")
# What a SavedModel needs to be served: its graph and its variables' index.
SAVED_MODEL_FILES = ("saved_model.pb", "variables/variables.index")


@dataclass(frozen=True)
class BlessPlan:
    run_id: str
    model_uri: str  # the Model artifact
    model_dir: Path  # its SavedModel
    serving_dir: Path
    from_version: str  # served now ("-" when nothing is)
    new_version: str

    @property
    def new_path(self) -> Path:
        return self.serving_dir / self.new_version


def plan_bless(outcome: RunOutcome, serving_dir: Path, clock: Callable[[], float] = time.time) -> BlessPlan:
    """What to push for the run, or why not (a ConfigError naming the run and the cause)."""
    run = f"run {outcome.run_id}"
    if GATE in outcome.failed_components():
        reason = (outcome.stop_reason or "see `why`").splitlines()[0]
        raise ConfigError(f"{run}: its data failed the validation gate ({reason}); a model is not "
                          "pushed past the gate")
    model_dir = _complete_model(outcome, run)
    versions = complete_local_versions(serving_dir)
    served = str(versions[-1]) if versions else "-"
    if versions and fingerprint(serving_dir, versions[-1]) == local_model_fingerprint(model_dir):
        raise ConfigError(f"{run}: its model is the one served now (version {served}); nothing to push")
    (model,) = outcome.produced(TRAINER, "Model")
    return BlessPlan(outcome.run_id, model.uri, model_dir, serving_dir, served,
                     next_version(serving_dir, clock))


def _complete_model(outcome: RunOutcome, run: str) -> Path:
    state = outcome.states.get(TRAINER)
    if state is None:
        raise ConfigError(f"{run}: its model is incomplete: the run has no Trainer (it stopped before it)")
    if state not in FINISHED:
        raise ConfigError(f"{run}: its model is incomplete: the Trainer is {state.lower()}")
    models = outcome.produced(TRAINER, "Model")
    if len(models) != 1:
        raise ConfigError(f"{run}: its model is incomplete: the Trainer recorded {len(models)} models")
    model_dir = Path(models[0].uri) / SERVING_MODEL_DIR
    missing = [name for name in SAVED_MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ConfigError(f"{run}: its model is incomplete: {model_dir} has no {', '.join(missing)}")
    return model_dir


def publish_blessed(plan: BlessPlan, user: str, reason: str,
                    copy_tree: Callable[..., object] = shutil.copytree) -> Path:
    record = {FINGERPRINT: local_model_fingerprint(plan.model_dir), "source": str(plan.model_dir),
              MODEL_URI: plan.model_uri, RUN_ID: plan.run_id, BLESSED_BY: f"{user}: {reason}"}
    return publish_version(plan.model_dir, plan.serving_dir, plan.new_version, record, copy_tree)
