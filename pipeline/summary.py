"""The end-of-run summary, read back from ML Metadata (no TensorFlow needed)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from components.artifact_types import EVALUATION_VERDICT
from components.validation_gate.anomalies import AnomalyRow, read_local_anomalies
from components.verdict.verdict import Check
from pipeline import store as mlmd

VERDICT_FILE = "verdict.json"
RESOLVER_SUFFIX = "_resolver"


@dataclass
class RunSummary:
    run_id: str
    components: list[mlmd.ComponentExecution]
    anomalies: list[AnomalyRow] = field(default_factory=list)
    verdict: dict | None = None
    pushed_path: str | None = None

    @property
    def blessed(self) -> bool | None:
        return None if self.verdict is None else bool(self.verdict["blessed"])

    def failed_components(self) -> list[str]:
        return [c.component for c in self.components if c.state == "FAILED"]


def summarize_run(store, run) -> RunSummary:
    """Collects what a run did: component states and times, anomalies, verdict, push."""
    components = mlmd.component_executions(store, run)
    outputs = mlmd.output_artifacts(store, [c.execution.id for c in components])
    summary = RunSummary(run_id=run.name, components=components)
    for artifact in mlmd.artifacts_of_type(outputs, "ExampleAnomalies"):
        if "/ExampleValidator/" in artifact.uri:
            summary.anomalies.extend(read_local_anomalies(artifact.uri))
    for artifact in mlmd.artifacts_of_type(outputs, EVALUATION_VERDICT):
        summary.verdict = read_verdict(artifact.uri)
    for artifact in mlmd.artifacts_of_type(outputs, "PushedModel"):
        if mlmd.custom_value(artifact, "pushed"):
            summary.pushed_path = mlmd.custom_value(artifact, "pushed_destination")
    return summary


def read_verdict(uri: str) -> dict | None:
    path = os.path.join(uri, VERDICT_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as reader:
        return json.load(reader)


def latest_run_summary(store, pipeline_name: str) -> RunSummary | None:
    """The summary of the pipeline's newest run in the store, if any."""
    runs = mlmd.pipeline_runs(store, pipeline_name)
    return summarize_run(store, runs[0]) if runs else None


def print_run_summary(console, summary: RunSummary | None, wall_seconds: float, result,
                      failed: str | None, files: dict[str, object]) -> None:
    """Prints the end-of-run summary: what ran, what was found, what was decided."""
    console.print()
    if summary is not None:
        status = "[red]FAILED[/]" if result.error else "[green]finished[/]"
        console.print(f"Run {summary.run_id} {status} in {wall_seconds:.1f} s "
                      f"(imports {result.import_seconds:.1f} s, pipeline {result.pipeline_seconds:.1f} s)")
        _print_components(console, summary)
        print_outcome(console, summary)
    for label, path in files.items():
        console.print(f"  {label:<11} {path}", highlight=False, markup=False)
    if result.error is not None:
        where = f"at {failed}" if failed else "before any component ran"
        console.print(f"\n[red]The run stopped {where}.[/]", highlight=False)
        console.print(str(result.error), highlight=False, markup=False)
        console.print("Nothing was pushed by this run. The full traceback is in the log above.",
                      highlight=False)


def print_outcome(console, summary: RunSummary) -> None:
    """Anomalies, verdict and push of a run."""
    _print_anomalies(console, summary.anomalies, "ValidationGate" in summary.failed_components())
    _print_verdict(console, summary.verdict)
    console.print(f"  Pushed      {summary.pushed_path or 'nothing'}", highlight=False, markup=False)


def _print_components(console, summary: RunSummary) -> None:
    parts = [f"{c.component} {c.seconds:.1f}s" + (" (cached)" if c.state == "CACHED" else "")
             for c in summary.components if not c.component.endswith(RESOLVER_SUFFIX)]
    console.print("  Components  " + ", ".join(parts), highlight=False)


def _print_anomalies(console, anomalies: list[AnomalyRow], gate_failed: bool = False) -> None:
    if gate_failed:
        console.print("  Anomalies   the validation gate stopped the run; see below")
        return
    if not anomalies:
        console.print("  Anomalies   none")
        return
    console.print(f"  Anomalies   {len(anomalies)}")
    for row in anomalies:
        console.print(f"    {row.one_line()}", highlight=False, markup=False)


def _print_verdict(console, verdict: dict | None) -> None:
    if verdict is None:
        console.print("  Evaluation  not reached")
        return
    overall = verdict["slices"].get("Overall", {})
    metrics = "  ".join(
        f"{name} {overall[name]:.3f}" for name in ("auc", "binary_accuracy") if overall.get(name)
    )
    console.print(f"  Evaluation  {metrics}  ({int(overall.get('example_count', 0))} eval examples)")
    head = verdict_lines(verdict)[0]
    color = "green" if verdict["blessed"] else "red"
    console.print(f"  Verdict     [{color}]{head}[/]", highlight=False)
    for line in condensed_checks(verdict):
        console.print("              " + line, highlight=False, markup=False)


def condensed_checks(verdict: dict) -> list[str]:
    """Every failed check and every overall check; passed slice checks in one line (`why` lists all)."""
    shown = [c for c in verdict["checks"] if not c["passed"] or c["slice"] == "Overall"]
    passed_slices = [c for c in verdict["checks"] if c["passed"] and c["slice"] != "Overall"]
    lines = [_check_line(check) for check in shown]
    if passed_slices:
        weakest = min(passed_slices, key=lambda c: c["value"] - c["bound"])
        lines.append(f"PASS {len(passed_slices)} slice checks; closest: {_check_line(weakest)[5:]} "
                     "(python -m pipeline why lists all)")
    return lines


def verdict_lines(verdict: dict) -> list[str]:
    """The decision, then every check, failures first (as stored in verdict.json)."""
    head = "BLESSED" if verdict["blessed"] else "NOT BLESSED"
    baseline = "against the last blessed model" if verdict["has_baseline"] else "no baseline yet"
    lines = [f"{head} ({baseline})"]
    if verdict.get("tfma_blessed") and not verdict["blessed"]:
        lines.append("TFMA blessed the model, but a per-slice check failed")
    return lines + [_check_line(check) for check in verdict["checks"]]


def _check_line(check: dict) -> str:
    return Check(**check).one_line()
