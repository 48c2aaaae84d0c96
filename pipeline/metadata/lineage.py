"""Questions answered from ML Metadata: which run, what verdict, which models were pushed.

Imports ml_metadata only; never TensorFlow or TFX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from components.versioned_pusher.properties import (
    BLESSED_BY,
    PUSHED,
    PUSHED_DESTINATION,
    PUSHED_VERSION,
    REUSED_EXISTING_VERSION,
    ROLLED_BACK_TO,
)
from pipeline.metadata import releases
from pipeline.metadata import run_facts as facts
from pipeline.metadata import store as mlmd
from pipeline.metadata.outcome import RunOutcome, read_outcome, recent_outcomes
from pipeline.metadata.pruning import pruned_text
from pipeline.metadata.store import utc
from trainer.record import read_training_record, read_tuner_trials

# The execution properties that explain a run; train_args and eval_args are what a
# stock Trainer's run is told (its steps); the last five, who changed what is served, why, and
# whose model a bless pushed.
EXECUTION_KEYS = ("input_base", "span", "input_fingerprint", "schema_file", "version", "train_args",
                  "eval_args", "action", "user", "reason", "to_version", "run_id")


@dataclass(frozen=True)
class PushedModelRow:
    version: str
    path: str
    run_id: str
    pushed_at: str
    auc: float | None
    binary_accuracy: float | None
    # Why there are no metrics, when there are none: what the run lacks.
    metrics_missing: str | None = None
    # A release action that published it ("rollback to V by USER: REASON"), or the rerun that pushed it
    # ("rerun of RUN by USER: REASON"), and whether it is served.
    note: str = ""
    served: bool = False
    pinned: bool = False  # served, and held there by `models pin`


def pushed_models(store, pipeline_name: str | None = None, served_version: str | None = None,
                  pinned: bool = False) -> list[PushedModelRow]:
    """Every version a run (of the pipeline) or a rollback published, newest first, with its run and
    headline metrics; `served_version` (default: the newest) is marked served, and pinned if so."""
    rows = _pipeline_pushes(store, pipeline_name)
    by_version = {row.version: row for row in rows}
    for record in reversed(releases.release_history(store, pipeline_name)):  # oldest first
        if record.state != "COMPLETE" or record.action not in releases.PUBLISHING:
            continue
        if record.action == releases.ROLLBACK:
            row = _release_row(record, by_version.get(record.to_version),
                               f"rollback to {record.to_version} by {record.user}: {record.reason}")
        else:
            row = _release_row(record, _run_row(store, record.run_id),
                               f"manual bless by {record.user}: {record.reason}")
        rows.append(row)
        by_version[row.version] = row
    rows.sort(key=lambda row: (row.pushed_at, int(row.version) if row.version.isdigit() else 0), reverse=True)
    served = served_version or (rows[0].version if rows else None)
    return [replace(row, served=row.version == served, pinned=pinned and row.version == served)
            for row in rows]


def _release_row(record: releases.ReleaseRecord, original: PushedModelRow | None,
                 note: str) -> PushedModelRow:
    """A version a release action published, with the run and metrics of the model it holds."""
    return PushedModelRow(
        version=record.new_version, path=str(Path(record.serving_dir) / record.new_version),
        run_id=original.run_id if original else "?", pushed_at=record.at,
        auc=original.auc if original else None,
        binary_accuracy=original.binary_accuracy if original else None,
        metrics_missing=original.metrics_missing if original else "version unknown", note=note)


def _run_row(store, run_id: str) -> PushedModelRow | None:
    """A run's model as a row (for its metrics), or None when the store has no such run."""
    run = mlmd.run_context(store, run_id)
    if run is None:
        return None
    return _push_row(read_outcome(store, run), "", "", "")


def _push_row(outcome: RunOutcome | None, version: str, path: str, pushed_at: str) -> PushedModelRow:
    overall = ((outcome.verdict if outcome else None) or {}).get("slices", {}).get("Overall", {})
    return PushedModelRow(version=version, path=path, run_id=outcome.run_id if outcome else "?",
                          pushed_at=pushed_at, auc=overall.get("auc"),
                          binary_accuracy=overall.get("binary_accuracy"),
                          metrics_missing=_metrics_missing(outcome, overall))


def _pipeline_pushes(store, pipeline_name: str | None) -> list[PushedModelRow]:
    rows = []
    runs = {run.id for run in mlmd.pipeline_runs(store, pipeline_name)} if pipeline_name else None
    for artifact in mlmd.artifacts_by_type(store, "PushedModel"):
        # A rerun that found its model already pushed reuses the version: list it once.
        reused = mlmd.custom_value(artifact, REUSED_EXISTING_VERSION)
        if not mlmd.custom_value(artifact, PUSHED) or reused or _published_by_release(artifact):
            continue
        run = _producing_run(store, artifact)
        if runs is not None and (run is None or run.id not in runs):
            continue
        row = _push_row(read_outcome(store, run) if run is not None else None,
                        str(mlmd.custom_value(artifact, PUSHED_VERSION) or "?"),
                        str(mlmd.custom_value(artifact, PUSHED_DESTINATION) or ""),
                        utc(artifact.create_time_since_epoch))
        # A version a `rerun` pushed says so, as a rollback's or a bless's does.
        rows.append(replace(row, note=(run is not None and facts.rerun_text(run)) or ""))
    return rows


def _published_by_release(artifact) -> bool:
    """A rollback's or a bless's PushedModel: listed from the release history, with its note."""
    return bool(mlmd.custom_value(artifact, ROLLED_BACK_TO) or mlmd.custom_value(artifact, BLESSED_BY))


def _metrics_missing(outcome: RunOutcome | None, overall: dict) -> str | None:
    if outcome is None:
        return "run unknown"
    if outcome.verdict is None:
        return "no evaluation"
    if not overall:
        return "no metrics read"
    return None if {"auc", "binary_accuracy"} <= overall.keys() else "not computed"


def _producing_run(store, artifact) -> metadata_store_pb2.Context | None:
    events = [e for e in store.get_events_by_artifact_ids([artifact.id]) if e.type in mlmd.OUTPUT_EVENTS]
    for event in events:
        for context in store.get_contexts_by_execution(event.execution_id):
            if context.type in mlmd.RUN_CONTEXT_TYPES:
                return context
    return None


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started: str
    seconds: float
    states: dict[str, str]
    blessed: bool | None
    pushed_version: str | None
    status: str
    no_verdict: str | None  # why blessed is None, in words
    no_verdict_brief: str | None  # the same in two words
    not_pushed: str | None  # why a blessed model was not pushed (a pin)
    pruned: int  # artifacts of the run that `prune` removed from disk

    @classmethod
    def of(cls, outcome: RunOutcome) -> RunRow:
        return cls(run_id=outcome.run_id, started=utc(outcome.started_ms), seconds=outcome.seconds,
                   states=outcome.states, blessed=outcome.blessed, pushed_version=outcome.pushed_version,
                   status=outcome.status,
                   no_verdict=None if outcome.blessed is not None else outcome.missing_verdict,
                   no_verdict_brief=None if outcome.blessed is not None else outcome.missing_verdict_brief,
                   not_pushed=outcome.not_pushed_reason, pruned=outcome.pruned)


def list_runs(store, pipeline_name: str | None = None, limit: int | None = None) -> list[RunRow]:
    """Pipeline runs, newest first, with component states, blessing and push."""
    return [RunRow.of(outcome) for outcome in recent_outcomes(store, pipeline_name, limit)]


def execution_details(execution) -> dict[str, object]:
    """The properties that explain an execution: data source, hyperparameters, strategy."""
    details: dict[str, object] = {}
    values = {key: value for key, value in execution.custom_properties.items()}
    for key in EXECUTION_KEYS:
        if key in values:
            kind = values[key].WhichOneof("value")
            details[key] = getattr(values[key], kind) if kind else None
    raw = values["custom_config"].string_value if "custom_config" in values else ""
    if raw:
        config = json.loads(raw) or {}
        # Transform receives the same custom_config; hyperparameters only matter to the Trainer.
        if "Trainer" in execution.type:
            details.update({f"training.{k}": v for k, v in config.get("training", {}).items()})
        if facts.CODE_SHA256 in config:
            details[facts.CODE_SHA256] = config[facts.CODE_SHA256]
    return details


def artifact_details(artifact) -> dict[str, object]:
    details: dict[str, object] = {}
    if pruned := pruned_text(artifact):  # its files are gone: nothing below can be read from them
        return {"state": pruned}
    for key in ("span", "split_names", "blessed", PUSHED_VERSION, "anomaly_count", "auc",
                "binary_accuracy"):
        value = mlmd.custom_value(artifact, key)
        if value is None and key in artifact.properties:
            prop = artifact.properties[key]
            value = getattr(prop, prop.WhichOneof("value")) if prop.WhichOneof("value") else None
        if isinstance(value, (int, float, str)) and value != "":
            details[key] = value
    record = read_training_record(artifact.uri) if artifact.type in mlmd.type_names("ModelRun") else None
    if record:
        details.update({"strategy": record.get("strategy"), "workers": record.get("workers", 1),
                        "replicas": record.get("replicas"),
                        "global_batch_size": record.get("global_batch_size"),
                        "epochs_run": record.get("epochs_run")})
        if record.get("tuned"):
            details["tuned"] = ", ".join(f"{k}={v}" for k, v in record.get("hyperparameters", {}).items()
                                         if k != "steps_per_execution")
    trials = read_tuner_trials(artifact.uri) if artifact.type in mlmd.type_names("TunerResults") else None
    if trials:
        details["trials"] = "; ".join(describe_trial(trial) for trial in trials)
    return details


def describe_trial(trial: dict) -> str:
    """`#3 0.9412: hidden_units=128,64 learning_rate=0.003 ...` (best trials first)."""
    values = " ".join(f"{k}={v}" for k, v in trial.items() if k not in ("trial_id", "score"))
    score = trial.get("score")
    return f"#{trial.get('trial_id')} {'-' if score is None else f'{score:.4f}'}: {values}"
