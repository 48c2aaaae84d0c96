"""Questions answered from ML Metadata: which run, what verdict, which models were pushed.

Imports ml_metadata only; never TensorFlow or TFX.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ml_metadata.proto import metadata_store_pb2

from pipeline import store as mlmd
from pipeline.summary import RunSummary, read_verdict, summarize_run


def find_run(store, run: str | None, pipeline_name: str | None = None) -> metadata_store_pb2.Context:
    """A pipeline run by id, unique id prefix, or the newest one when run is None or 'latest'."""
    runs = mlmd.pipeline_runs(store, pipeline_name)
    if not runs:
        raise mlmd.StoreError("the metadata store holds no pipeline run yet")
    if run in (None, "latest"):
        return runs[0]
    matches = [context for context in runs if context.name == run]
    matches = matches or [context for context in runs if context.name.startswith(run)]
    if len(matches) != 1:
        known = ", ".join(context.name for context in runs[:5])
        problem = "no run" if not matches else f"{len(matches)} runs"
        raise mlmd.StoreError(f"{problem} match {run!r}; newest runs: {known}")
    return matches[0]


def run_summary(store, run: str | None, pipeline_name: str | None = None) -> RunSummary:
    return summarize_run(store, find_run(store, run, pipeline_name))


@dataclass(frozen=True)
class PushedModelRow:
    version: str
    path: str
    run_id: str
    pushed_at: str
    auc: float | None
    binary_accuracy: float | None


def pushed_models(store) -> list[PushedModelRow]:
    """Every model version a run pushed, newest first, with its run and headline metrics."""
    rows = []
    for artifact in store.get_artifacts_by_type("PushedModel"):
        if not mlmd.custom_value(artifact, "pushed"):
            continue
        run = _producing_run(store, artifact)
        verdict = _run_verdict(store, run) if run is not None else None
        overall = (verdict or {}).get("slices", {}).get("Overall", {})
        rows.append(PushedModelRow(
            version=str(mlmd.custom_value(artifact, "pushed_version") or "?"),
            path=str(mlmd.custom_value(artifact, "pushed_destination") or ""),
            run_id=run.name if run is not None else "?",
            pushed_at=_utc(artifact.create_time_since_epoch),
            auc=overall.get("auc"),
            binary_accuracy=overall.get("binary_accuracy"),
        ))
    return sorted(rows, key=lambda row: row.pushed_at, reverse=True)


def _producing_run(store, artifact) -> metadata_store_pb2.Context | None:
    events = [e for e in store.get_events_by_artifact_ids([artifact.id]) if e.type in mlmd.OUTPUT_EVENTS]
    for event in events:
        for context in store.get_contexts_by_execution(event.execution_id):
            if context.type == mlmd.PIPELINE_RUN:
                return context
    return None


def _run_verdict(store, run) -> dict | None:
    executions = store.get_executions_by_context(run.id)
    outputs = mlmd.output_artifacts(store, [execution.id for execution in executions])
    for artifact in mlmd.artifacts_of_type(outputs, "EvaluationVerdict"):
        return read_verdict(artifact.uri)
    return None


def _utc(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
