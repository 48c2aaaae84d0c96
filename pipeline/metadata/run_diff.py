"""Two runs compared (`lineage diff`) and one run drawn as a graph (`lineage graph`, the report)."""

from __future__ import annotations

from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from configs.record import flat_keys
from pipeline.metadata import run_facts as facts
from pipeline.metadata import store as mlmd
from pipeline.metadata.lineage import execution_details
from pipeline.metadata.outcome import read_outcome
from pipeline.metadata.provenance import original_producers
from pipeline.metadata.store import BASELINE_INPUT_KEYS, event_key

# Sections that runs record only since rerun came: configuration keys and input files.
RECORDED_SECTIONS = ("config", "files")


@dataclass(frozen=True)
class Change:
    section: str
    key: str
    before: object
    after: object


def comparable_facts(store, run) -> dict[str, dict[str, object]]:
    """Everything diff compares, by section, for one run."""
    sections: dict[str, dict[str, object]] = {"run": {}, "config": {}, "files": {}, "data": {},
                                               "properties": {}, "metrics": {}, "anomalies": {}}
    sections["run"].update(facts.described_facts(run))
    sections["config"].update(flat_keys(facts.recorded_config(run) or {}))
    for path, file in (facts.recorded_input_files(run) or {}).items():
        sections["files"][path] = f"{file['size']} bytes, sha256 {file['sha256'][:12]}"
    for item in mlmd.component_executions(store, run):
        details = execution_details(_producing_execution(store, item.execution))
        for key, value in details.items():
            section = "data" if key in ("input_base", "span", "input_fingerprint") else "properties"
            sections[section][f"{item.component}.{key}"] = value
    outcome = read_outcome(store, run)
    sections["run"]["anomalies"] = len(outcome.anomalies)
    # The gate's findings (ExampleValidator's anomalies and drift), or ExampleValidator's alone without a
    # gate; one row per split and feature, so a new or a gone anomaly shows.
    for anomaly in outcome.gate_findings or outcome.anomalies:
        sections["anomalies"][f"[{anomaly.split}] {anomaly.feature}"] = \
            f"{anomaly.short_description} ({anomaly.severity})"
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
    producers = original_producers(store, [e for e in events if e.type in mlmd.OUTPUT_EVENTS])
    return store.get_executions_by_id([producers[0].execution_id])[0] if producers else execution


def diff_runs(store, run_a, run_b) -> list[Change]:
    """What differs between two runs: code, configuration keys, input files by content, data, properties
    per component, metrics, blessing. Keys a run from before such records holds no value for show as None."""
    before, after = comparable_facts(store, run_a), comparable_facts(store, run_b)
    changes = []
    for section in before:
        if section in RECORDED_SECTIONS and not (before[section] and after[section]):
            # One run is older than these records: one line, not every key as "None".
            if before[section] or after[section]:
                changes.append(Change(section, "(recorded)", _recorded(before[section]),
                                      _recorded(after[section])))
            continue
        for key in sorted(set(before[section]) | set(after[section])):
            old, new = before[section].get(key), after[section].get(key)
            if section == "metrics" and isinstance(old, float) and isinstance(new, float):
                if abs(old - new) < 5e-5:
                    continue
            elif old == new:
                continue
            changes.append(Change(section, key, old, new))
    return changes


def _recorded(section: dict) -> str:
    return f"{len(section)} entries" if section else "not recorded (an older run)"


def run_graph(store, run):
    """A pydot graph of a run: its executions, their input and output artifacts."""
    import pydot

    graph = pydot.Dot(graph_type="digraph", rankdir="LR", fontname="Helvetica",
                      label=f"pipeline run {run.name}", labelloc="t")
    executions = mlmd.component_executions(store, run)
    ids = [item.execution.id for item in executions]
    events = [e for e in store.get_events_by_execution_ids(ids)
              if event_key(e) not in BASELINE_INPUT_KEYS]
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
