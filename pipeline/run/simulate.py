"""Continuous training, played back: one pipeline run per span, oldest first.

Every run goes into the same metadata store and serving directory, as a daily
schedule would. A span the validation gate stops does not stop the playback;
the next span is compared with the last released model as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from configs.settings import PipelineConfig
from data.spans import SPAN_PREFIX, span_folders
from pipeline.metadata.outcome import GATE, RunOutcome

HEADER = f"{'span':>4}  {'rows':>6}  {'AUC':>6}  {'accuracy':>8}  {'blessed':>7}  {'pushed':>11}  validation"


@dataclass(frozen=True)
class SpanOutcome:
    span: int
    rows: int
    run_id: str
    stopped_at: str | None
    findings: list[str]
    auc: float | None
    accuracy: float | None
    blessed: bool | None
    pushed: str | None

    def line(self) -> str:
        span, rows, gate, auc, accuracy, blessed, pushed = self.cells()
        return f"{span:>4}  {rows:>6}  {auc:>6}  {accuracy:>8}  {blessed:>7}  {pushed:>11}  {gate}"

    def cells(self) -> list[str]:
        metric = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        blessed = "-" if self.blessed is None else ("yes" if self.blessed else "no")
        gate = "stopped: " + "; ".join(self.findings) if self.stopped_at == GATE else (
            f"failed at {self.stopped_at}" if self.stopped_at else "pass")
        return [str(self.span), str(self.rows), gate, metric(self.auc), metric(self.accuracy), blessed,
                self.pushed or "-"]


def span_numbers(config: PipelineConfig) -> list[int]:
    folders = span_folders(config.paths.data)
    if not folders:
        raise FileNotFoundError(f"{config.paths.data} holds no {SPAN_PREFIX}N/ folders to play back")
    return [int(folder.name[len(SPAN_PREFIX):]) for folder in folders]


def outcome(span: int, rows: int, run_id: str, summary: RunOutcome | None,
            error: BaseException | None) -> SpanOutcome:
    """One playback line; summary is None when the run failed before TFX registered it."""
    failed = summary.failed_components() if summary is not None and error is not None else []
    verdict = summary.verdict if summary is not None else None
    overall = (verdict or {}).get("slices", {}).get("Overall", {})
    # "[train] payment_type: Drift from the previous data (ERROR) — ..." -> "payment_type: Drift ..."
    findings = [line.split("] ", 1)[1].split(" (")[0] for line in str(error or "").splitlines()
                if line.strip().startswith("[") and "] " in line]
    anomalies = len(summary.anomalies) if summary is not None else 0
    pushed = summary.pushed_path if summary is not None else None
    return SpanOutcome(
        span=span,
        rows=rows,
        run_id=run_id,
        stopped_at=failed[0] if failed else (None if error is None else "start-up"),
        findings=sorted(set(findings)) if findings else [f"{anomalies} anomalies"],
        auc=overall.get("auc"),
        accuracy=overall.get("binary_accuracy"),
        blessed=None if verdict is None else bool(verdict["blessed"]),
        pushed=pushed.rsplit("/", 1)[-1] if pushed else None,
    )
