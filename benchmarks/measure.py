"""Measurements of single processes: the Trainer alone, one pipeline run, one template run.

Every figure is taken from outside the measured process (wall time, peak
memory) or read back from the ML Metadata store it wrote.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.shared.layout import OutputLayout

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The environment the benchmark started with, which every measured process
# gets. Libraries this process loads later change os.environ: importing
# tensorflow_transform sets TF_USE_LEGACY_KERAS=1, which put the template's
# Trainer on Keras 2 (14.8 s against 7.5 s on Keras 3, what a user's shell runs).
LAUNCH_ENVIRONMENT = dict(os.environ)


def machine() -> dict[str, object]:
    memory_kb = 0
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo", encoding="utf-8") as reader:
            memory_kb = int(reader.readline().split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(memory_kb / 2**20, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def train_once(pipeline_root: Path, replicas: int, epochs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as work:
        result = subprocess.run(
            [sys.executable, "-m", "trainer.standalone", str(pipeline_root), work,
             "--set", f"training.cpu_replicas={replicas}", "--set", f"training.epochs={epochs}",
             "--set", "training.early_stopping_patience=1000"],
            capture_output=True, text=True, check=True,
        )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if "record" not in outcome:
        raise RuntimeError(f"training failed: {outcome}")
    return outcome["record"]


def bench_trainer(pipeline_root: Path, pairs: int, epochs: int, report) -> dict:
    """Alternates 1 and 2 replicas; returns medians, ratios and every measurement."""
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for pair in range(pairs):
        for replicas in (1, 2):
            record = train_once(pipeline_root, replicas, epochs)
            runs[replicas].append(record)
            report(f"pair {pair + 1}/{pairs}, {replicas} replica(s): {record['train_seconds']:.1f} s, "
                   f"{record['examples_per_second']:.0f} examples/s")
    ratios = [two["examples_per_second"] / one["examples_per_second"]
              for one, two in zip(runs[1], runs[2], strict=True)]
    return {
        "machine": machine(),
        "epochs": epochs,
        "train_examples": runs[1][0]["train_examples"],
        "median_seconds": {n: statistics.median(r["train_seconds"] for r in runs[n]) for n in runs},
        "median_examples_per_second": {
            n: statistics.median(r["examples_per_second"] for r in runs[n]) for n in runs},
        "throughput_ratio_2_over_1_per_pair": [round(ratio, 3) for ratio in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
        "runs": {n: [{k: r[k] for k in ("train_seconds", "examples_per_second", "global_batch_size",
                                        "strategy", "replicas")} for r in runs[n]] for n in runs},
    }


# --- whole runs ----------------------------------------------------------------

@dataclass
class Measured:
    """One process, timed from outside: wall seconds and its peak resident memory."""

    seconds: float
    max_rss_mib: float
    returncode: int
    log: str


# How often a timed process is checked for its end: the resolution of every
# time measured here (sub-second lineage times included).
POLL_SECONDS = 0.01


def timed_process(command: list[str], cwd: Path, log: Path, timeout: float = 7200,
                  env: dict[str, str] | None = None) -> Measured:
    """Runs command, output to log; wall time and peak RSS of that very process (os.wait4).

    `env`: variables set for the command on top of LAUNCH_ENVIRONMENT.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env={**LAUNCH_ENVIRONMENT, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise TimeoutError(f"{' '.join(command[:4])} … ran over {timeout:.0f} s; log: {log}")
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, usage.ru_maxrss / 1024, process.returncode, str(log))


def run_ours(data: Path, output: Path, overrides: list[str], log: Path, *flags: str) -> dict:
    """`python -m pipeline run` in a fresh process; its time, memory, components and metrics."""
    started_at = time.time()
    measured = timed_process(run_command(data, output, overrides, *flags), PROJECT_ROOT, log)
    if measured.returncode != 0:
        raise RuntimeError(f"the pipeline run failed ({measured.returncode}); log: {log}")
    return {**asdict(measured), **run_facts(OutputLayout(output).metadata_file, started_at)}


def rerun_unchanged(data: Path, output: Path, log: Path) -> dict:
    """`run` again with nothing changed: it must report "Up to date" and start no pipeline run."""
    runs_before = len(pipeline_run_names(OutputLayout(output).metadata_file))
    measured = timed_process(run_command(data, output, []), PROJECT_ROOT, log)
    text = Path(measured.log).read_text(encoding="utf-8")
    if measured.returncode != 0 or "Up to date" not in text:
        raise RuntimeError(f"the unchanged rerun did not find the last run up to date; log: {log}")
    if len(pipeline_run_names(OutputLayout(output).metadata_file)) != runs_before:
        raise RuntimeError(f"the unchanged rerun started a pipeline run; log: {log}")
    return asdict(measured)


def run_command(data: Path, output: Path, overrides: list[str], *flags: str) -> list[str]:
    command = [sys.executable, "-m", "pipeline", "run", "--data", str(data), "--output", str(output), *flags]
    for item in overrides:
        command += ["--set", item]
    return command


def pipeline_run_names(metadata: Path) -> list[str]:
    from pipeline.metadata import store as mlmd

    store = mlmd.open_store(mlmd.sqlite_connection(metadata, read_only=True))
    return [run.name for run in mlmd.pipeline_runs(store)]


def run_facts(metadata: Path, process_started: float) -> dict:
    """Per-component seconds, start-up overhead and overall metrics of the newest run in a store."""
    from pipeline.metadata import store as mlmd
    from pipeline.metadata.outcome import read_outcome

    # The benchmark's own output folder: its one process made the newest run.
    store = mlmd.open_store(mlmd.sqlite_connection(metadata, read_only=True))
    summary = read_outcome(store, mlmd.pipeline_runs(store)[0])
    first_start = min(c.execution.create_time_since_epoch for c in summary.components) / 1000
    overall = (summary.verdict or {}).get("slices", {}).get("Overall", {})
    return {
        "components": {c.component: {"seconds": round(c.seconds, 2), "state": c.state}
                       for c in summary.components},
        "startup_seconds": round(first_start - process_started, 2),
        "auc": overall.get("auc"),
        "accuracy": overall.get("binary_accuracy"),
        "eval_examples": overall.get("example_count"),
        "pushed": summary.pushed_path is not None,
    }


def template_project(work: Path, log: Path) -> Path:
    """TFX's taxi template, instantiated the way its docs say (`tfx template copy`), steps 5-6 switched on.

    Nothing of it is copied into this repository: it is copied from the
    installed tfx package into a scratch folder, and the tutorial's "uncomment
    components.append(...)" steps are applied there.
    """
    # Absolute: `tfx template copy` runs in `work` and would resolve a relative destination from there.
    project = work.resolve() / "taxi-template"
    if not project.exists():
        tfx_cli = Path(sys.executable).with_name("tfx")
        measured = timed_process([str(tfx_cli), "template", "copy", "--pipeline_name=taxi-template",
                                  f"--destination_path={project}", "--model=taxi"], work, log)
        if measured.returncode != 0:
            raise RuntimeError(f"tfx template copy failed; log: {log}")
        pipeline_file = project / "pipeline" / "pipeline.py"
        text = pipeline_file.read_text(encoding="utf-8")
        switched_on = re.sub(r"^(\s*)# (components\.append\(\w+\))$", r"\1\2", text, flags=re.M)
        pipeline_file.write_text(switched_on, encoding="utf-8")
    return project


def run_template(project: Path, work: Path, log: Path, data: Path | None = None) -> dict:
    """One cold run of the template (its local_runner.py), in a fresh copy so that nothing is cached.

    `data`: a CSV file, or a folder of them, to read instead of the taxi CSV the
    template copied (its local_runner.py reads every file in its data/ folder).
    """
    run_dir = work / f"template-run-{time.time_ns()}"
    shutil.copytree(project, run_dir, ignore=shutil.ignore_patterns("data") if data else None)
    if data is not None:
        files = [data] if data.is_file() else sorted(data.rglob("*.csv"))
        if not files:
            raise RuntimeError(f"no CSV file for the template in {data}")
        (run_dir / "data").mkdir()
        for index, csv_file in enumerate(files):
            os.symlink(csv_file.resolve(), run_dir / "data" / f"part-{index}.csv")
    measured = timed_process([sys.executable, "local_runner.py"], run_dir, log)
    if measured.returncode != 0:
        raise RuntimeError(f"the template run failed; log: {log}")
    metadata = run_dir / "tfx_metadata" / "taxi-template" / "metadata.db"
    facts = template_facts(metadata, run_dir)
    if data is not None:  # its outputs of a large input would fill the disk over a session
        shutil.rmtree(run_dir, ignore_errors=True)
    return {**asdict(measured), **facts}


def template_facts(metadata: Path, run_dir: Path) -> dict:
    """Component seconds and the template's own evaluation (it computes binary accuracy only).

    The template records artifact URIs relative to its project folder.
    """
    import tensorflow_model_analysis as tfma

    from pipeline.metadata import store as mlmd

    store = mlmd.open_store(mlmd.sqlite_connection(metadata, read_only=True))
    run = mlmd.pipeline_runs(store)[0]
    components = mlmd.component_executions(store, run)
    evaluations = mlmd.artifacts_of_type(
        mlmd.output_artifacts(store, [c.execution.id for c in components]), "ModelEvaluation")
    metrics = {}
    if evaluations:
        evaluation = run_dir / evaluations[0].uri  # an absolute URI stays as it is
        if not list(evaluation.glob("metrics*")):
            raise RuntimeError(f"the template's evaluation has no metrics file under {evaluation}")
        for slice_metrics in tfma.load_metrics(str(evaluation)):
            if not slice_metrics.slice_key.single_slice_keys:
                for item in slice_metrics.metric_keys_and_values:
                    if item.value.HasField("double_value") and not item.key.is_diff:
                        metrics[item.key.name] = item.value.double_value.value
    return {"components": {c.component: {"seconds": round(c.seconds, 2), "state": c.state}
                           for c in components},
            "accuracy": metrics.get("binary_accuracy"), "auc": metrics.get("auc")}
