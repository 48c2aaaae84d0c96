"""The run service: everything one local pipeline run does, in order.

`run` and `simulate` (and, through `run`, the benchmarks) go through here:

1. check the input data before TensorFlow loads (clear errors for bad CSV);
2. decide whether the last run is up to date (same data, config, code, libraries);
3. run the pipeline under a run id chosen here, its output in a log file;
4. record the run's facts on that very run in ML Metadata;
5. read the run's outcome back, write its metrics and its report;
6. return what the terminal summary prints.

Facts, metrics and the report always describe the run this process started,
named by its own run id, never "the newest run in the store", which another
process may have started meanwhile. Printing is the caller's job.
"""

from __future__ import annotations

import errno
import getpass
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from configs.settings import ConfigError, PipelineConfig, secret_values
from pipeline.metadata import run_facts
from pipeline.metadata import store as mlmd
from pipeline.metadata.outcome import RunOutcome, read_outcome, read_run
from pipeline.run.inputs import RunInputs
from pipeline.run.interrupts import RunInterrupted, signals_ignored, signals_raise
from pipeline.shared.layout import OutputLayout
from pipeline.shared.redaction import redact


@dataclass(frozen=True)
class Preflight:
    """What the checks before TensorFlow found: the run's inputs, their rows, the input fingerprint."""

    inputs: RunInputs
    rows: int
    fingerprint: str


@dataclass
class UpToDate:
    """The last run read the same inputs and finished: nothing ran."""

    outcome: RunOutcome
    files: dict[str, Path]


@dataclass
class RunResult:
    run_id: str
    outcome: RunOutcome | None  # None when the run failed before TFX registered it
    error: BaseException | None
    failed_component: str | None
    import_seconds: float
    pipeline_seconds: float
    wall_seconds: float
    files: dict[str, Path | str] = field(default_factory=dict)
    error_text: str = ""  # what to tell the user about the error, secrets masked
    notifications: list = field(default_factory=list)  # pipeline.run.notify.Delivery, one per target


def check_input_data(config: PipelineConfig, inputs: RunInputs) -> int:
    """Reads the input files once, before TensorFlow: clear errors for malformed CSV files."""
    from data.checks import check_csv_files, load_schema, numeric_columns

    required = [*config.features.columns(), config.label.column]
    if config.label.reference_column:
        required.append(config.label.reference_column)
    schema_file = config.paths.schema_file
    numeric = numeric_columns(load_schema(schema_file)) if schema_file else {}
    reports = check_csv_files(inputs.paths, required, numeric)
    return sum(report.rows for report in reports)


def explain_error(error: BaseException | None, layout: OutputLayout) -> str:
    """The error as the user reads it, with what to do when the cause is a full disk."""
    if error is None:
        return ""
    text = str(error)
    chain, cause = [], error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    full = any(getattr(item, "errno", None) == errno.ENOSPC or "No space left on device" in str(item)
               for item in chain)
    if full:
        text += (f"\nThe disk is full where the run writes ({layout.root}, or the serving folder "
                 f"{layout.serving_dir}): free space there or choose another --output. The component's "
                 "unfinished outputs were removed.")
    return text


def check_training_workers(config: PipelineConfig) -> None:
    """training.workers fits this machine, and a fixed training.worker_port is free (else ConfigError)."""
    from trainer.workers import WorkerConfigError, check_local_workers

    try:
        check_local_workers(config.training.workers, config.training.worker_port)
    except WorkerConfigError as error:
        raise ConfigError(str(error)) from None


def check_writable(layout: OutputLayout) -> None:
    """The output and serving folders (or the nearest folders that exist above them) take new files.

    Otherwise a run would train for minutes and fail at the Pusher.
    """
    for label, folder in (("the output folder", layout.root), ("the serving folder", layout.serving_dir)):
        existing = folder.resolve()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            where = "" if existing == folder.resolve() else f" (its nearest existing folder {existing})"
            raise ConfigError(f"{label} {folder}{where} is not writable by this user (uid {os.getuid()}); "
                              "nothing ran. Fix its permissions or choose another --output.")


class RunService:
    """Runs the pipeline of one configuration into its output folder."""

    def __init__(self, config: PipelineConfig, config_file: Path):
        self.config = config
        self.config_file = config_file
        self.layout = OutputLayout.of(config)
        self.secrets = secret_values(config)

    def preflight(self) -> Preflight:
        """Checks the data (raises DataError) and the folders the run writes (ConfigError), and
        fingerprints everything the run would read. A refusal is notified as a failed run."""
        from data.errors import DataError

        try:
            return self._checked_inputs()
        except (DataError, ConfigError) as error:
            self._notify_refused(error)
            raise

    def _checked_inputs(self) -> Preflight:
        from data.errors import DataError
        from pipeline.run.freshness import input_fingerprint

        check_writable(self.layout)
        check_training_workers(self.config)
        inputs = RunInputs.of(self.config)
        try:
            rows = check_input_data(self.config, inputs)
        except DataError as error:
            if not inputs.ignored:
                raise
            names = ", ".join(str(path) for path in inputs.ignored)
            raise DataError(f"{error}\n  ignored (not .csv): {names}") from None
        return Preflight(inputs, rows, input_fingerprint(self.config, inputs))

    def exclusive(self, command: str, wait_seconds: float = 0.0, on_wait=lambda message: None):
        """The run lock of this output folder and metadata store (raises RunLockBusy when taken)."""
        from pipeline.run.lock import exclusive_run

        return exclusive_run(self.config, f"python -m pipeline {command}", wait_seconds, on_wait)

    def new_log_file(self, command: str = "run") -> Path:
        return self.layout.log_file(command, datetime.now())

    def up_to_date(self, preflight: Preflight) -> UpToDate | None:
        """The last run, when a rerun would only repeat it; its metrics file is rewritten."""
        if self.config.metadata.kind == "sqlite" and not self.layout.metadata_file.exists():
            return None
        from pipeline.run.freshness import up_to_date_run

        store = self._store()
        run = up_to_date_run(store, self.config, preflight.fingerprint)
        if run is None:
            return None
        outcome = read_outcome(store, run)
        files: dict[str, Path] = {}
        if self.config.monitoring.enabled:
            # Rewritten so that the file's age tells a scrape that the schedule still runs.
            files["Metrics"] = self._write_metrics(outcome)
        report = self.layout.report_file(run.name)
        if report.exists():
            files["Report"] = report
        return UpToDate(outcome, files)

    def execute(self, preflight: Preflight, log_file: Path, show_progress: bool = True,
                extra_facts: dict[str, str] | None = None) -> RunResult:
        """Runs the pipeline (TensorFlow loads here), then records, reads back and writes its outputs.

        `extra_facts` are recorded on the run besides its own (a rerun's origin and reason).
        """
        from pipeline.run.console import quiet_library_noise
        from pipeline.run.freshness import freshness_facts
        from pipeline.run.local_runner import new_run_id
        from pipeline.run.notify import run_summary

        quiet_library_noise()
        run_id = new_run_id()
        started = time.perf_counter()
        # Before the run: the files' content as the run reads it, not as it may be afterwards.
        facts = {**self._facts(preflight), **(extra_facts or {})}
        store = self._store()
        # Left RUNNING by a process that died (SIGKILL, power loss); the lock says none is alive.
        mlmd.cancel_unfinished(store, self.config.pipeline_name)
        local, failed = self._run_pipeline(run_id, preflight, log_file, show_progress)
        wall_seconds = time.perf_counter() - started
        with signals_ignored():
            facts.update(freshness_facts(preflight.fingerprint, self.layout.serving_dir))  # after the push
            run_facts.record_run_facts(store, run_id, facts, local.error, self.secrets)
            mlmd.cancel_unfinished(store, self.config.pipeline_name, run_id)
            outcome = read_run(store, run_id)
            result = RunResult(run_id, outcome, local.error, failed, local.import_seconds,
                               local.pipeline_seconds, wall_seconds,
                               error_text=redact(explain_error(local.error, self.layout), self.secrets))
            result.files = self._write_outputs(store, outcome, log_file)
            result.notifications = self._notify(run_summary(self.config, result), log_file)
        return result

    def _notify(self, summary: dict, log_file: Path) -> list:
        from pipeline.run.notify import notify

        return notify(self.config, summary, log_file, self.secrets)

    def _notify_refused(self, error: Exception) -> None:
        """A run the checks refused is a failed run to whoever is notified (a schedule's bad data)."""
        if self.config.notify.webhooks or self.config.notify.commands:
            from pipeline.run.notify import refused_summary

            self._notify(refused_summary(self.config, error, self.secrets), self.new_log_file("refused"))

    def _run_pipeline(self, run_id: str, preflight: Preflight, log_file: Path, show_progress: bool):
        """(LocalRun, failed component) of the pipeline run, its output in the log, signals as stops."""
        from pipeline.run.console import ComponentProgress, output_to_log
        from pipeline.run.local_runner import LocalRun, run_local

        started = time.perf_counter()
        with output_to_log(log_file, self.secrets) as terminal:
            progress = None
            if show_progress:
                terminal.print("  loading TensorFlow and TFX…", highlight=False)
                progress = ComponentProgress(terminal)
            with signals_raise():
                try:
                    local = run_local(self.config, run_id, preflight.inputs, progress, preflight.rows)
                except RunInterrupted as stop:  # while TensorFlow and TFX were still loading
                    local = LocalRun(time.perf_counter() - started, 0.0, stop)
            if isinstance(local.error, RunInterrupted):  # as raised, not as a library re-worded it
                local.error = RunInterrupted(local.error.signum)
            return local, progress.fail_current() if progress and local.error else None

    def _facts(self, preflight: Preflight) -> dict[str, str]:
        """What the run records of what it ran with (the serving state is taken after the run)."""
        from configs.record import config_record
        from pipeline.pipeline_inputs import git_tree_state, user_code_version
        from pipeline.run.rerun import input_files

        return {
            **user_code_version(),
            run_facts.GIT_TREE: git_tree_state(),
            run_facts.RUN_BY: getpass.getuser(),
            run_facts.CONFIG_FILE: str(self.config_file.resolve()),
            run_facts.RESOLVED_CONFIG: config_record(self.config),
            run_facts.INPUT_FILES: run_facts.input_files_record(
                input_files(preflight.inputs, self.config.paths.schema_file)),
            run_facts.DATA_SPANS: preflight.inputs.span_label,
        }

    def _write_outputs(self, store, outcome: RunOutcome | None, log_file: Path) -> dict[str, Path | str]:
        files: dict[str, Path | str] = {}
        if self.config.metadata.kind == "sqlite":
            files["Metadata"] = self.layout.metadata_file
        if outcome is not None and self.config.monitoring.enabled:
            files["Metrics"] = self._write_metrics(outcome)
        if outcome is not None:
            files["Report"] = self._write_report(store, outcome, log_file)
        files["Log"] = log_file
        return files

    def _write_metrics(self, outcome: RunOutcome) -> Path:
        from pipeline.report.monitoring import write_run_metrics

        name = self.config.pipeline_name
        return write_run_metrics(outcome, name, self.layout.metrics_file(name))

    def _write_report(self, store, outcome: RunOutcome, log_file: Path) -> Path | str:
        """The run's HTML report; a failure here never fails the run, and the log says why."""
        from pipeline.report.page import build_report, write_report

        try:
            return write_report(build_report(store, outcome.run), self.layout.report_file(outcome.run_id))
        except Exception as error:
            with open(log_file, "a", encoding="utf-8") as log:
                log.write(f"run report failed: {error!r}\n")
            return redact(f"not written ({type(error).__name__}: {error}; see the log)", self.secrets)

    def _store(self):
        return mlmd.open_store(mlmd.config_connection(self.config))
