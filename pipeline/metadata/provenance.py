"""Provenance: the tree of what an artifact came from, or what came of it, in ML Metadata.

`lineage trace` prints it and the run report embeds it. Imports ml_metadata
only. Walks are bounded (DEFAULT_HOPS) and never follow a model's baseline
input, which would lead through every earlier run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from components.versioned_pusher.properties import PUSHED
from pipeline.metadata import store as mlmd
from pipeline.metadata.lineage import artifact_details, execution_details
from pipeline.metadata.outcome import find_run
from pipeline.metadata.store import BASELINE_INPUT_KEYS, event_key

DEFAULT_HOPS = 12



@dataclass
class TraceNode:
    kind: str  # "artifact" or "execution"
    id: int
    label: str
    state: str = ""
    uri: str = ""
    details: dict = field(default_factory=dict)
    children: list[TraceNode] = field(default_factory=list)
    seen_before: bool = False

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "label": self.label, "state": self.state,
                "uri": self.uri, "details": self.details, "seen_before": self.seen_before,
                "children": [child.as_dict() for child in self.children]}


def resolve_target(store, target: str, pipeline_name: str | None = None):
    """An artifact from an id, 'latest-pushed', or a run id (its model, or what it produced last)."""
    if target.isdigit():
        found = store.get_artifacts_by_id([int(target)])
        if not found:
            raise mlmd.StoreNotFound(f"no artifact with id {target}")
        return found[0]
    if target == "latest-pushed":
        pushed = [a for a in mlmd.artifacts_by_type(store, "PushedModel") if mlmd.custom_value(a, PUSHED)]
        if not pushed:
            raise mlmd.StoreNotFound("no model has been pushed yet")
        return max(pushed, key=lambda a: (a.create_time_since_epoch, a.id))
    run = find_run(store, target, pipeline_name)
    outputs = mlmd.output_artifacts(store, [e.id for e in store.get_executions_by_context(run.id)])
    for type_name in ("PushedModel", "Model", "ExampleAnomalies", "Examples"):
        candidates = mlmd.artifacts_of_type(outputs, type_name)
        if candidates:
            return max(candidates, key=lambda a: a.id)
    raise mlmd.StoreError(f"run {run.name} produced no artifact")


def trace(store, artifact, downstream: bool = False, max_hops: int = DEFAULT_HOPS) -> TraceNode:
    """Provenance tree of an artifact: upstream to the data, or downstream to models and pushes."""
    seen: set[tuple[str, int]] = set()
    types = {t.id: t.name for t in store.get_execution_types()}
    return _trace_artifact(store, artifact, downstream, max_hops, seen, types)


def _trace_artifact(store, artifact, downstream, hops, seen, types) -> TraceNode:
    node = TraceNode("artifact", artifact.id, artifact.type, uri=artifact.uri,
                     details=artifact_details(artifact))
    if ("artifact", artifact.id) in seen:
        node.seen_before = True
        return node
    seen.add(("artifact", artifact.id))
    if hops <= 0:
        return node
    events = store.get_events_by_artifact_ids([artifact.id])
    if downstream:
        wanted = [e for e in events if e.type == metadata_store_pb2.Event.INPUT
                  and event_key(e) not in BASELINE_INPUT_KEYS]
    else:
        wanted = original_producers(store, [e for e in events if e.type in mlmd.OUTPUT_EVENTS])
    executions = store.get_executions_by_id(sorted({e.execution_id for e in wanted}))
    for execution in executions:
        node.children.append(_trace_execution(store, execution, downstream, hops - 1, seen, types))
    return node


def original_producers(store, output_events, chunk: int = 8):
    """With caching, several executions output one artifact; the one that made it is COMPLETE.

    It is the earliest of them, so they are read oldest first, a few at a time,
    instead of all of them (one per cached run, in a long-lived store).
    """
    if len(output_events) <= 1:
        return output_events
    ordered = sorted(output_events, key=lambda event: event.execution_id)
    for start in range(0, len(ordered), chunk):
        events = ordered[start:start + chunk]
        states = {e.id: e.last_known_state
                  for e in store.get_executions_by_id([event.execution_id for event in events])}
        complete = [ev for ev in events if states[ev.execution_id] == metadata_store_pb2.Execution.COMPLETE]
        if complete:
            return complete[:1]
    return ordered[:1]


def _trace_execution(store, execution, downstream, hops, seen, types) -> TraceNode:
    node = TraceNode("execution", execution.id, mlmd.component_name(store, execution),
                     state=mlmd.STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
                     details=execution_details(execution))
    if ("execution", execution.id) in seen:
        node.seen_before = True
        return node
    seen.add(("execution", execution.id))
    events = store.get_events_by_execution_ids([execution.id])
    if downstream:
        wanted = [e for e in events if e.type in mlmd.OUTPUT_EVENTS]
    else:
        wanted = [e for e in events if e.type == metadata_store_pb2.Event.INPUT
                  and event_key(e) not in BASELINE_INPUT_KEYS]
    artifacts = store.get_artifacts_by_id(sorted({e.artifact_id for e in wanted}))
    for artifact in artifacts:
        node.children.append(_trace_artifact(store, artifact, downstream, hops - 1, seen, types))
    return node


