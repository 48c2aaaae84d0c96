"""The end-of-run summary on the terminal, from a run's outcome (no TensorFlow needed)."""

from __future__ import annotations

from components.validation_gate.anomalies import AnomalyRow
from components.verdict.verdict import Check
from configs.settings import secret_values
from pipeline.metadata.outcome import EVALUATOR, GATE, RESOLVER_SUFFIX, RunOutcome
from pipeline.shared.redaction import redact


def print_run_summary(console, result) -> None:
    """Prints the end-of-run summary of a RunResult: what ran, what was found, what was decided."""
    summary, failed = result.outcome, result.failed_component
    console.print()
    if summary is not None:
        status = "[red]FAILED[/]" if result.error else "[green]finished[/]"
        console.print(f"Run {summary.run_id} {status} in {result.wall_seconds:.1f} s "
                      f"(imports {result.import_seconds:.1f} s, pipeline {result.pipeline_seconds:.1f} s)")
        _print_components(console, summary)
        print_outcome(console, summary)
    for label, path in result.files.items():
        console.print(f"  {label:<11} {path}", highlight=False, markup=False)
    _print_notifications(console, result.notifications)
    if result.error is not None:
        where = f"at {failed}" if failed else "before any component ran"
        console.print(f"\n[red]The run stopped {where}.[/]", highlight=False)
        console.print(redact(result.error_text or str(result.error), secret_values()), highlight=False,
                      markup=False)
        pushed = summary is not None and summary.pushed_path
        console.print(("" if pushed else "Nothing was pushed by this run. ") +
                      "Finished components are reused by the next run; the full traceback is in the log.",
                      highlight=False)


def _print_notifications(console, deliveries) -> None:
    """One line: how many were sent, and each that failed (the run's log has them all)."""
    if not deliveries:
        return
    failed = [delivery.line() for delivery in deliveries if not delivery.ok]
    text = f"{len(deliveries) - len(failed)} of {len(deliveries)} sent"
    console.print(f"  {'Notified':<11} {text}" + (f"; {'; '.join(failed)}" if failed else ""),
                  highlight=False, markup=False)


def print_outcome(console, summary: RunOutcome) -> None:
    """Anomalies, verdict and push of a run."""
    _print_anomalies(console, summary.anomalies, GATE in summary.failed_components())
    _print_verdict(console, summary.verdict)
    pushed = summary.pushed_path or summary.pushed_text  # the path alone, where there is one
    console.print(f"  Pushed      {pushed}", highlight=False, markup=False)


def _print_components(console, summary: RunOutcome) -> None:
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
    if not verdict["slices"]:
        console.print(f"  Verdict     {verdict_lines(verdict)[0]}", highlight=False, markup=False)
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
    """The decision, then every check, failures first (as stored in the verdict file)."""
    head = "BLESSED" if verdict["blessed"] else "NOT BLESSED"
    baseline = "against the served model" if verdict["has_baseline"] else "no baseline yet"
    if verdict.get("decided_by") == EVALUATOR:  # a stock pipeline: TFMA's own thresholds decided
        against = "with a baseline" if verdict["has_baseline"] else "no baseline"
        baseline = f"by the Evaluator's TFMA thresholds, {against}"
        if not verdict["checks"]:
            return [f"{head} ({baseline})", "no threshold check could be read from its ModelEvaluation"]
    lines = [f"{head} ({baseline})"]
    if verdict.get("tfma_blessed") and not verdict["blessed"]:
        lines.append("TFMA blessed the model, but a per-slice check failed")
    return lines + [_check_line(check) for check in verdict["checks"]]


def _check_line(check: dict) -> str:
    return Check(**check).one_line()
