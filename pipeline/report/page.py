"""The run report: one self-contained HTML page per run, read back from ML Metadata.

Everything comes from what the run recorded, read through the run's outcome
(pipeline.metadata.outcome): MLMD for components, times and lineage; StatisticsGen's
protos for the data; the gate's report and the Verdict's file for decisions;
the Trainer's TensorBoard event files and training record for training.
Nothing here imports TensorFlow, so a report of an old run takes seconds. The
page is rendered from a Jinja2 template with inline CSS and inline SVG charts:
no scripts, fonts or network requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from components.validation_gate.anomalies import AnomalyRow
from pipeline.metadata import run_facts
from pipeline.metadata.outcome import GATE, PUSHER, RunOutcome, read_outcome
from pipeline.metadata.store import utc
from pipeline.report import charts
from pipeline.report.readers import FeatureRow, read_epoch_curves, read_statistics
from trainer.record import read_training_record, read_tuner_trials

TEMPLATES = Path(__file__).resolve().parent / "templates"
SLICE_COLUMNS = ("example_count", "auc", "binary_accuracy", "precision", "recall")


@dataclass
class ComponentRow:
    name: str
    state: str
    start: float  # seconds after the first component started
    seconds: float


@dataclass
class Report:
    pipeline_name: str
    run_id: str
    started: str
    facts: dict[str, str]
    components: list[ComponentRow]
    stopped_at: str | None = None
    stop_reason: str | None = None
    timeline_svg: str = ""
    examples: int | None = None
    features: list[FeatureRow] = field(default_factory=list)
    compared_with_previous: bool = False
    anomalies: list[AnomalyRow] = field(default_factory=list)
    training: dict | None = None
    # What any TFX Trainer leaves: its Model and ModelRun (the training record above is ours only).
    model_uri: str | None = None
    model_run_uri: str | None = None
    no_verdict: str | None = None
    # The Tuner's completed trials, best first (when the run tuned).
    trials: list[dict] = field(default_factory=list)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    curves_svg: str = ""
    verdict: dict | None = None
    slices: list[tuple[str, dict]] = field(default_factory=list)
    slices_svg: str = ""
    baseline: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    graph_svg: str = ""
    trace_text: str = ""
    pushed_path: str | None = None
    pushed_version: str | None = None
    push_reason: str = ""
    blessed_by_hand: str = ""  # "USER: REASON" of a manual bless


# --- collecting --------------------------------------------------------------

def build_report(store, run) -> Report:
    """Everything the page shows about one run."""
    outcome = read_outcome(store, run)
    report = Report(
        pipeline_name=_pipeline_name(store, run),
        run_id=run.name,
        started=utc(min((i.execution.create_time_since_epoch for i in outcome.components), default=0)),
        facts={**run_facts.described_facts(run), **_pruned_fact(outcome), **_release_fact(outcome)},
        components=_component_rows(outcome.components),
        stop_reason=outcome.stop_reason,
    )
    failed = [row.name for row in report.components if row.state == "FAILED"]
    report.stopped_at = failed[0] if failed else None
    report.timeline_svg = charts.timeline([(r.name, r.state, r.start, r.seconds) for r in report.components])
    _add_data(report, store, outcome)
    _add_training(report, outcome)
    _add_evaluation(report, outcome)
    _add_lineage(report, store, outcome)
    return report


def _pruned_fact(outcome: RunOutcome) -> dict[str, str]:
    if not outcome.pruned:
        return {}
    return {"pruned": f"{outcome.pruned} artifact(s) removed from disk by `prune` (their records stay)"}


def _release_fact(outcome: RunOutcome) -> dict[str, str]:
    """The release actions that name the run: a manual bless, the `schedule trigger` that started it."""
    lines = [record.one_line() for record in outcome.release_actions]
    return {"release actions": "; ".join(lines)} if lines else {}


def _pipeline_name(store, run) -> str:
    parents = store.get_parent_contexts_by_context(run.id)
    return parents[0].name if parents else ""


def _component_rows(executions) -> list[ComponentRow]:
    ordered = sorted(executions, key=lambda item: (item.execution.create_time_since_epoch, item.execution.id))
    origin = ordered[0].execution.create_time_since_epoch if ordered else 0
    return [ComponentRow(item.component, item.state, (item.execution.create_time_since_epoch - origin) / 1000,
                         item.seconds) for item in ordered]


def _add_data(report: Report, store, outcome: RunOutcome) -> None:
    statistics = [artifact for _, artifact in outcome.produced_by_any("ExampleStatistics")]
    previous = _gate_input(store, outcome.components, "previous_statistics")
    if statistics:
        current = read_statistics(statistics[0].uri)
        report.examples = current[0] if current else None
        before = read_statistics(previous.uri) if previous is not None else None
        report.compared_with_previous = before is not None
        previous_rows = {row.name: row for row in before[1]} if before else {}
        report.features = [FeatureRow(**{**row.__dict__, "previous": previous_rows.get(row.name)})
                           for row in (current[1] if current else [])]
    # The gate's report lists ExampleValidator's anomalies and its own drift
    # findings; a gate that failed published none, so fall back on the former.
    report.anomalies = list(outcome.gate_findings or outcome.anomalies)


def _gate_input(store, executions, key: str):
    gate = [item.execution.id for item in executions if item.component == GATE]
    events = [e for e in store.get_events_by_execution_ids(gate)
              if e.path.steps and e.path.steps[0].key == key]
    found = store.get_artifacts_by_id([e.artifact_id for e in events]) if events else []
    return found[0] if found else None


def _add_training(report: Report, outcome: RunOutcome) -> None:
    runs = outcome.produced_by_any("ModelRun")
    if not runs:
        return
    trainer, model_run = runs[0]
    uri = model_run.uri
    report.model_run_uri = uri
    models = [artifact for component, artifact in outcome.produced_by_any("Model") if component == trainer]
    report.model_uri = models[0].uri if models else None
    report.training = read_training_record(uri)
    for results in outcome.produced("Tuner", "TunerResults"):
        report.trials = read_tuner_trials(results.uri) or []
    report.curves = read_epoch_curves(uri)
    if report.curves:
        report.curves_svg = charts.training_curves(report.curves)


def _add_evaluation(report: Report, outcome: RunOutcome) -> None:
    report.verdict = outcome.verdict
    if report.verdict is None:
        report.no_verdict = outcome.missing_verdict
        return
    slices = report.verdict["slices"]
    order = sorted(slices, key=lambda name: (name != "Overall", -(slices[name].get("example_count") or 0),
                                             name))
    report.slices = [(name, slices[name]) for name in order]
    bound = next((c["bound"] for c in report.verdict["checks"]
                  if c["slice"] == "Overall" and c["metric"] == "auc" and c["kind"] == "lower bound"), None)
    # AUC means nothing on a slice of one class (cash trips almost never tip), as in the Verdict.
    bars = [(name, metrics["auc"]) for name, metrics in report.slices
            if metrics.get("auc") is not None and 0 < (metrics.get("mean_label") or 0) < 1]
    if bars:
        report.slices_svg = charts.slice_metric_bars(bars[:30], "AUC", bound)
    overall = slices.get("Overall", {})
    baseline = report.verdict.get("baseline_slices", {}).get("Overall", {})
    if baseline:
        report.baseline = [(name, overall.get(name), baseline.get(name)) for name in SLICE_COLUMNS]


def _add_lineage(report: Report, store, outcome: RunOutcome) -> None:
    from pipeline.metadata.provenance import trace
    from pipeline.metadata.run_diff import run_graph
    from pipeline.metadata.trace_view import trace_text

    try:
        svg = run_graph(store, outcome.run).create_svg().decode("utf-8")
        report.graph_svg = svg[svg.index("<svg"):]
    except (FileNotFoundError, OSError, AssertionError):
        report.graph_svg = ""  # graphviz not installed: the template says so
    pushed = outcome.produced(PUSHER, "PushedModel") if outcome.pushed_path and not outcome.blessed_by_hand \
        else []
    models = outcome.produced("Trainer", "Model")
    target = pushed[0] if pushed else (models[0] if models else None)
    if target is not None:
        report.trace_text = trace_text(trace(store, target))
    if outcome.pushed_path:
        report.pushed_path = outcome.pushed_path
        report.pushed_version = outcome.pushed_version
        report.blessed_by_hand = outcome.blessed_by_hand or ""
    elif report.stopped_at:
        report.push_reason = f"The run stopped at {report.stopped_at}; nothing after it ran."
    elif outcome.not_pushed_reason:
        report.push_reason = f"Blessed, but not pushed: {outcome.not_pushed_reason}."
    elif report.verdict is not None and not report.verdict["blessed"]:
        report.push_reason = f"The {report.verdict['decided_by']} did not bless the model (see Evaluation)."
    elif report.verdict is None:
        report.push_reason = f"{report.no_verdict[0].upper()}{report.no_verdict[1:]}."
    else:
        report.push_reason = "No push was recorded for this run."


# --- rendering ---------------------------------------------------------------

def render(report: Report) -> str:
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = _number
    environment.filters["pct"] = lambda value: "-" if value is None else f"{value:.1f}%"
    # The SVG comes from matplotlib and graphviz in this process, never from user input.
    svg = {key: Markup(getattr(report, key))
           for key in ("timeline_svg", "curves_svg", "slices_svg", "graph_svg")}
    return environment.get_template("report.html.j2").render(
        report=report, svg=svg, slice_columns=SLICE_COLUMNS, css=(TEMPLATES / "report.css").read_text())


def _number(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def write_report(report: Report, path: Path) -> Path:
    """Writes the page atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(render(report), encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)  # left only when the write or the rename failed
    return path
