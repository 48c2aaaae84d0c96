"""The one owner of what a local run writes under ``paths.output``.

Every writer and reader of the output folder asks this type for a path; no
other module spells a file or folder name under it. It imports nothing heavy,
so read-only commands use it too.

    <output>/
      metadata.sqlite            ML Metadata (SQLite backend)
      pipeline_root/             TFX artifacts, one folder per component
      serving/<version>/         pushed models (VersionedPusher)
      logs/<command>-<time>.log  the full log of each run or playback
      reports/run-<id>.html      the run report
      metrics/<pipeline>.prom    Prometheus textfile (unless monitoring.textfile_dir)
      windows/                   hard-linked rolling windows of spans
      trainer_backups/           Keras BackupAndRestore state, per run
      schemas/<hash>/            content-addressed copies of the curated schema
      run.lock                   flock of the run in progress, with its pid, host and start
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from configs.settings import PipelineConfig

METADATA_FILE = "metadata.sqlite"
TRAINER_BACKUPS = "trainer_backups"
# The Kubeflow variant keeps its cross-run state under kubeflow.state_dir.
ACCEPTED_STATISTICS_FILE = "accepted_statistics.json"


def report_file_name(run_id: str) -> str:
    """run-2026-11-23T19-43-16.251844.html: no colons, which some tools read as a URL scheme."""
    return f"run-{run_id.replace(':', '-')}.html"


@dataclass(frozen=True)
class OutputLayout:
    """Paths under one output folder; `metrics_override` is monitoring.textfile_dir when set."""

    root: Path
    metrics_override: Path | None = None

    @classmethod
    def of(cls, config: PipelineConfig) -> OutputLayout:
        return cls(config.paths.output, config.monitoring.textfile_dir)

    @classmethod
    def beside_store(cls, metadata_file: Path) -> OutputLayout:
        """The layout whose SQLite store is this file (for `--store PATH`)."""
        return cls(metadata_file.parent)

    @property
    def metadata_file(self) -> Path:
        return self.root / METADATA_FILE

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline_root"

    @property
    def serving_dir(self) -> Path:
        return self.root / "serving"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def metrics_dir(self) -> Path:
        return self.metrics_override or self.root / "metrics"

    @property
    def windows_dir(self) -> Path:
        return self.root / "windows"

    @property
    def trainer_backups_dir(self) -> Path:
        return self.root / TRAINER_BACKUPS

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas"

    @property
    def lock_file(self) -> Path:
        return self.root / "run.lock"

    def log_file(self, command: str, started: datetime) -> Path:
        """logs/run-20261129-231005.log: one file per `run` or `simulate`."""
        return self.log_dir / f"{command}-{started:%Y%m%d-%H%M%S}.log"

    def report_file(self, run_id: str) -> Path:
        return self.reports_dir / report_file_name(run_id)

    def metrics_file(self, pipeline_name: str) -> Path:
        """<pipeline>.prom, the name node_exporter's textfile collector reads."""
        return self.metrics_dir / f"{pipeline_name}.prom"


@dataclass(frozen=True)
class KubeflowStateLayout:
    """What the Kubeflow variant keeps across runs under kubeflow.state_dir (local or object storage)."""

    state_dir: str

    @property
    def trainer_backups(self) -> str:
        return f"{self.state_dir.rstrip('/')}/{TRAINER_BACKUPS}"

    @property
    def accepted_statistics_file(self) -> str:
        return f"{self.state_dir.rstrip('/')}/{ACCEPTED_STATISTICS_FILE}"
