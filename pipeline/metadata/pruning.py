"""Which artifacts `prune` may remove, and how a removal is recorded in ML Metadata.

A prune keeps the newest runs (and, if asked, every run that pushed a model),
and never an artifact that the lineage of a kept or served model needs: the
closure upstream from every artifact a kept run read or wrote, and from the
served model, following producers' inputs (never a baseline or the previous
statistics, which point into every earlier run). Of the rest, it removes the
bulky data (examples, transform graphs, models, statistics, evaluations) and
keeps the small decision records (schema, anomalies, blessings, verdicts,
pushes), so `why`, `models` and `lineage` still answer for a pruned run.

An artifact is marked MARKED_FOR_DELETION before its files go and DELETED
after, with PRUNED_BY naming the action; a prune killed in between is finished
by the next one (`unfinished`). TFX's cache never reuses an artifact that is
not LIVE, so a later run recomputes what was removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.metadata import store as mlmd
from pipeline.metadata.store import BASELINE_INPUT_KEYS, event_key, utc

# The bulky data a prune removes; every other type (decision records, unknown types) stays.
PRUNED_TYPES = ("Examples", "TransformGraph", "TransformCache", "Model", "ModelRun", "ExampleStatistics",
                "ModelEvaluation")
# Inputs that point into earlier runs: not lineage a model needs.
NOT_LINEAGE_KEYS = BASELINE_INPUT_KEYS | {"previous_statistics"}
PRUNED_BY = "pruned_by_action"
PRUNED_AT = "pruned_at"


@dataclass(frozen=True)
class PrunePlan:
    kept_runs: list[str]
    pruned_runs: list[str]
    artifacts: list[pb.Artifact]  # LIVE, of a pruned run, not protected, of a pruned type, under the root


def plan_prune(store, pipeline_name: str, keep_last: int, keep_pushed: bool, served_model_uris: set[str],
               pipeline_root: str) -> PrunePlan:
    """What a prune would remove: artifacts under pipeline_root that no kept run or served model needs."""
    runs = mlmd.pipeline_runs(store, pipeline_name)  # newest first
    executions = {run.name: [e.id for e in store.get_executions_by_context(run.id)] for run in runs}
    events = {name: store.get_events_by_execution_ids(ids) if ids else [] for name, ids in executions.items()}
    kept = [run.name for run in runs[:keep_last]]
    if keep_pushed:
        kept += [name for name in executions if name not in kept and _pushed(store, events[name])]
    roots = {event.artifact_id for name in kept for event in events[name] if _needed(event)}
    roots |= {artifact.id for artifact in store.get_artifacts() if artifact.uri in served_model_uris}
    protected = lineage_closure(store, roots)
    candidates = {event.artifact_id for name, run_events in events.items() if name not in kept
                  for event in run_events if event.type in mlmd.OUTPUT_EVENTS} - protected
    pruned_types = {type_id for name in PRUNED_TYPES for type_id in _type_ids(store, name)}
    root = pipeline_root.rstrip("/") + "/"
    artifacts = [artifact for artifact in store.get_artifacts_by_id(sorted(candidates))
                 if artifact.state == pb.Artifact.LIVE and artifact.type_id in pruned_types
                 and artifact.uri.startswith(root)]
    pruned_runs = [run.name for run in runs if run.name not in kept]
    return PrunePlan([run.name for run in runs if run.name in kept], pruned_runs, artifacts)


def lineage_closure(store, artifact_ids: set[int]) -> set[int]:
    """The artifacts and everything upstream of them: producers' inputs, transitively."""
    seen, frontier = set(artifact_ids), set(artifact_ids)
    while frontier:
        events = store.get_events_by_artifact_ids(sorted(frontier))
        producers = sorted({event.execution_id for event in events if event.type in mlmd.OUTPUT_EVENTS})
        inputs = {event.artifact_id for event in store.get_events_by_execution_ids(producers)
                  if event.type == pb.Event.INPUT and event_key(event) not in NOT_LINEAGE_KEYS} \
            if producers else set()
        frontier = inputs - seen
        seen |= frontier
    return seen


def _needed(event) -> bool:
    """What a run's own lineage needs: what it made or reused (OUTPUT), what it read (INPUT); not a
    baseline or the previous statistics, nor what a Resolver found (INTERNAL_OUTPUT) for those."""
    if event.type == pb.Event.INPUT:
        return event_key(event) not in NOT_LINEAGE_KEYS
    return event.type in (pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT)


def _pushed(store, events) -> bool:
    from components.versioned_pusher.properties import PUSHED

    outputs = [event.artifact_id for event in events if event.type in mlmd.OUTPUT_EVENTS]
    pushed_types = set(_type_ids(store, "PushedModel"))
    return any(artifact.type_id in pushed_types and mlmd.custom_value(artifact, PUSHED)
               for artifact in store.get_artifacts_by_id(outputs))


def _type_ids(store, name: str) -> list[int]:
    return [artifact_type.id for artifact_type in store.get_artifact_types()
            if artifact_type.name in mlmd.type_names(name)]


def mark(store, artifacts: list[pb.Artifact], state: int, action_id: int, at_ms: int | None = None) -> None:
    """Sets the artifacts' state (MARKED_FOR_DELETION, then DELETED), naming the prune that did it."""
    for artifact in artifacts:
        artifact.state = state
        artifact.custom_properties[PRUNED_BY].int_value = action_id
        if at_ms is not None:
            artifact.custom_properties[PRUNED_AT].string_value = utc(at_ms)
    if artifacts:
        store.put_artifacts(artifacts)


def unfinished(store) -> list[pb.Artifact]:
    """Artifacts a killed prune marked and did not finish."""
    return [a for a in store.get_artifacts() if a.state == pb.Artifact.MARKED_FOR_DELETION]


def pruned_text(artifact) -> str | None:
    """"pruned at T by action N" for a removed artifact, else None."""
    if artifact.state != pb.Artifact.DELETED:
        return None
    when = mlmd.custom_value(artifact, PRUNED_AT)
    by = mlmd.custom_value(artifact, PRUNED_BY)
    return "pruned" + (f" at {when}" if when else "") + (f" by action {by}" if by else "")
