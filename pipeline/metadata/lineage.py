"""Questions answered from ML Metadata: which run, what verdict, which models were pushed.

Imports ml_metadata only; never TensorFlow or TFX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from components.versioned_pusher.properties import (
    PUSHED,
    PUSHED_DESTINATION,
    PUSHED_VERSION,
    REUSED_EXISTING_VERSION,
)
from pipeline.metadata import run_facts as facts
from pipeline.metadata import store as mlmd
from pipeline.metadata.outcome import RunOutcome, find_run, read_outcome, recent_outcomes, utc
from trainer.record import read_training_record, read_tuner_trials


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
    for artifact in mlmd.artifacts_by_type(store, "PushedModel"):
        # A rerun that found its model already pushed reuses the version: list it once.
        reused = mlmd.custom_value(artifact, REUSED_EXISTING_VERSION)
        if not mlmd.custom_value(artifact, PUSHED) or reused:
            continue
        run = _producing_run(store, artifact)
        outcome = read_outcome(store, run) if run is not None else None
        overall = ((outcome.verdict if outcome else None) or {}).get("slices", {}).get("Overall", {})
        rows.append(PushedModelRow(
            version=str(mlmd.custom_value(artifact, PUSHED_VERSION) or "?"),
            path=str(mlmd.custom_value(artifact, PUSHED_DESTINATION) or ""),
            run_id=run.name if run is not None else "?",
            pushed_at=utc(artifact.create_time_since_epoch),
            auc=overall.get("auc"),
            binary_accuracy=overall.get("binary_accuracy"),
        ))
    return sorted(rows, key=lambda row: row.pushed_at, reverse=True)


def _producing_run(store, artifact) -> metadata_store_pb2.Context | None:
    events = [e for e in store.get_events_by_artifact_ids([artifact.id]) if e.type in mlmd.OUTPUT_EVENTS]
    for event in events:
        for context in store.get_contexts_by_execution(event.execution_id):
            if context.type in mlmd.RUN_CONTEXT_TYPES:
                return context
    return None


# ---------------------------------------------------------------------------
# Runs, provenance, differences and pictures.
# ---------------------------------------------------------------------------

# Input keys that point into earlier runs: following them would walk from the
# candidate model through its baseline into every run before it.
BASELINE_INPUT_KEYS = frozenset({"baseline_model"})
DEFAULT_HOPS = 12


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started: str
    seconds: float
    states: dict[str, str]
    blessed: bool | None
    pushed_version: str | None
    status: str

    @classmethod
    def of(cls, outcome: RunOutcome) -> RunRow:
        return cls(run_id=outcome.run_id, started=utc(outcome.started_ms), seconds=outcome.seconds,
                   states=outcome.states, blessed=outcome.blessed, pushed_version=outcome.pushed_version,
                   status=outcome.status)


def list_runs(store, pipeline_name: str | None = None, limit: int | None = None) -> list[RunRow]:
    """Pipeline runs, newest first, with component states, blessing and push."""
    return [RunRow.of(outcome) for outcome in recent_outcomes(store, pipeline_name, limit)]


def execution_details(execution) -> dict[str, object]:
    """The properties that explain an execution: data source, hyperparameters, strategy."""
    details: dict[str, object] = {}
    values = {key: value for key, value in execution.custom_properties.items()}
    for key in ("input_base", "span", "input_fingerprint", "schema_file", "version"):
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
        details.update({"strategy": record.get("strategy"), "replicas": record.get("replicas"),
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
            raise mlmd.StoreError(f"no artifact with id {target}")
        return found[0]
    if target == "latest-pushed":
        pushed = [a for a in mlmd.artifacts_by_type(store, "PushedModel") if mlmd.custom_value(a, PUSHED)]
        if not pushed:
            raise mlmd.StoreError("no model has been pushed yet")
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
                  and _event_key(e) not in BASELINE_INPUT_KEYS]
    else:
        wanted = _original_producers(store, [e for e in events if e.type in mlmd.OUTPUT_EVENTS])
    executions = store.get_executions_by_id(sorted({e.execution_id for e in wanted}))
    for execution in executions:
        node.children.append(_trace_execution(store, execution, downstream, hops - 1, seen, types))
    if not downstream and artifact.type in mlmd.type_names("Examples"):
        node.children.extend(_statistics_of(store, artifact, events, seen))
    return node


def _statistics_of(store, examples, events, seen) -> list[TraceNode]:
    """The statistics computed on raw examples: what the schema and drift checks looked at."""
    readers = [e for e in events if e.type == metadata_store_pb2.Event.INPUT]
    result = []
    # In a long-lived store the examples have a reader per run: find StatisticsGen's by its node
    # context (two queries) rather than by asking each reader's name.
    statistics_gen = {execution.id for node in store.get_contexts_by_type(mlmd.NODE)
                      if node.name.split(".", 1)[-1] == "StatisticsGen"
                      for execution in store.get_executions_by_context(node.id)}
    if examples.type.startswith(mlmd.KFP_TFX_PREFIX):  # recorded by KFP: no node contexts, task names
        statistics_gen |= {execution.id for execution in
                           store.get_executions_by_id(sorted({e.execution_id for e in readers}))
                           if mlmd.custom_value(execution, mlmd.KFP_TASK_NAME) == "StatisticsGen"}
    ids = sorted({e.execution_id for e in readers} & statistics_gen)
    complete = [execution.id for execution in (store.get_executions_by_id(ids) if ids else [])
                if execution.last_known_state == metadata_store_pb2.Execution.COMPLETE]
    # Cached runs' executions output the same statistics again: each artifact is listed once.
    outputs = sorted({e.artifact_id for e in (store.get_events_by_execution_ids(complete) if complete else [])
                      if e.type in mlmd.OUTPUT_EVENTS})
    for statistics in store.get_artifacts_by_id(outputs) if outputs else []:
        node = TraceNode("artifact", statistics.id, statistics.type, uri=statistics.uri,
                         details={"computed_on": f"Examples #{examples.id}"},
                         seen_before=("artifact", statistics.id) in seen)
        seen.add(("artifact", statistics.id))
        result.append(node)
    return result


def _original_producers(store, output_events, chunk: int = 8):
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
                  and _event_key(e) not in BASELINE_INPUT_KEYS]
    artifacts = store.get_artifacts_by_id(sorted({e.artifact_id for e in wanted}))
    for artifact in artifacts:
        node.children.append(_trace_artifact(store, artifact, downstream, hops - 1, seen, types))
    return node


def _event_key(event) -> str:
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


# --- diff -------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    section: str
    key: str
    before: object
    after: object


def comparable_facts(store, run) -> dict[str, dict[str, object]]:
    """Everything diff compares, by section, for one run."""
    sections: dict[str, dict[str, object]] = {"run": {}, "data": {}, "properties": {}, "metrics": {}}
    sections["run"].update(facts.described_facts(run))
    for item in mlmd.component_executions(store, run):
        details = execution_details(_producing_execution(store, item.execution))
        for key, value in details.items():
            section = "data" if key in ("input_base", "span", "input_fingerprint") else "properties"
            sections[section][f"{item.component}.{key}"] = value
    outcome = read_outcome(store, run)
    sections["run"]["anomalies"] = len(outcome.anomalies)
    sections["run"]["failed_components"] = ", ".join(outcome.failed_components()) or "none"
    if outcome.verdict is not None:
        sections["run"]["blessed"] = outcome.verdict["blessed"]
        for slice_name, metrics in outcome.verdict["slices"].items():
            for name in ("auc", "binary_accuracy", "example_count"):
                if metrics.get(name) is not None:
                    sections["metrics"][f"{slice_name} · {name}"] = metrics[name]
    return sections


def _producing_execution(store, execution):
    """For a cached execution, the one that made its outputs: only it holds span and fingerprint."""
    if execution.last_known_state != metadata_store_pb2.Execution.CACHED:
        return execution
    outputs = [e for e in store.get_events_by_execution_ids([execution.id]) if e.type in mlmd.OUTPUT_EVENTS]
    if not outputs:
        return execution
    events = store.get_events_by_artifact_ids([outputs[0].artifact_id])
    producers = _original_producers(store, [e for e in events if e.type in mlmd.OUTPUT_EVENTS])
    return store.get_executions_by_id([producers[0].execution_id])[0] if producers else execution


def diff_runs(store, run_a, run_b) -> list[Change]:
    """What differs between two runs: code, data, properties per component, metrics, blessing."""
    before, after = comparable_facts(store, run_a), comparable_facts(store, run_b)
    changes = []
    for section in before:
        for key in sorted(set(before[section]) | set(after[section])):
            old, new = before[section].get(key), after[section].get(key)
            if section == "metrics" and isinstance(old, float) and isinstance(new, float):
                if abs(old - new) < 5e-5:
                    continue
            elif old == new:
                continue
            changes.append(Change(section, key, old, new))
    return changes


# --- graph --------------------------------------------------------------------

def run_graph(store, run):
    """A pydot graph of a run: its executions, their input and output artifacts."""
    import pydot

    graph = pydot.Dot(graph_type="digraph", rankdir="LR", fontname="Helvetica",
                      label=f"pipeline run {run.name}", labelloc="t")
    executions = mlmd.component_executions(store, run)
    ids = [item.execution.id for item in executions]
    events = [e for e in store.get_events_by_execution_ids(ids)
              if _event_key(e) not in BASELINE_INPUT_KEYS]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    for item in executions:
        color = {"COMPLETE": "#d4edda", "CACHED": "#e2e3e5", "FAILED": "#f8d7da"}.get(item.state, "#fff3cd")
        graph.add_node(pydot.Node(f"e{item.execution.id}", shape="box", style="\"filled,rounded\"",
                                  fillcolor=color, fontname="Helvetica",
                                  label=f"{item.component}\\n{item.state.lower()} · {item.seconds:.1f}s"))
    for artifact in artifacts.values():
        tail = artifact.uri.rstrip("/").split("/")[-2:]
        graph.add_node(pydot.Node(f"a{artifact.id}", shape="ellipse", fontname="Helvetica",
                                  label=f"{artifact.type} #{artifact.id}\\n{'/'.join(tail)}"))
    for event in events:
        if event.type == metadata_store_pb2.Event.INPUT:
            graph.add_edge(pydot.Edge(f"a{event.artifact_id}", f"e{event.execution_id}"))
        elif event.type in mlmd.OUTPUT_EVENTS:
            graph.add_edge(pydot.Edge(f"e{event.execution_id}", f"a{event.artifact_id}"))
    return graph
