"""Benchmarks, measured on this machine and written to a results file.

`python -m pipeline bench trainer` alternates 1 and 2 replicas (A B A B …) on
the same Transform outputs, each in a fresh process, and reports medians and
the per-pair ratio. `python -m pipeline bench all` (below) measures whole
pipeline runs. Figures are only ever produced by this code.
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

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


def timed_process(command: list[str], cwd: Path, log: Path, timeout: float = 7200) -> Measured:
    """Runs command, output to log; wall time and peak RSS of that very process (os.wait4)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise TimeoutError(f"{' '.join(command[:4])} … ran over {timeout:.0f} s; log: {log}")
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, usage.ru_maxrss / 1024, process.returncode, str(log))


def run_ours(data: Path, output: Path, overrides: list[str], log: Path, *flags: str) -> dict:
    """`python -m pipeline run` in a fresh process; its time, memory, components and metrics."""
    started_at = time.time()
    measured = timed_process(run_command(data, output, overrides, *flags), PROJECT_ROOT, log)
    if measured.returncode != 0:
        raise RuntimeError(f"the pipeline run failed ({measured.returncode}); log: {log}")
    return {**asdict(measured), **run_facts(output / "metadata.sqlite", started_at)}


def rerun_unchanged(data: Path, output: Path, log: Path) -> dict:
    """`run` again with nothing changed: it must report "Up to date" and start no pipeline run."""
    runs_before = len(pipeline_run_names(output / "metadata.sqlite"))
    measured = timed_process(run_command(data, output, []), PROJECT_ROOT, log)
    text = Path(measured.log).read_text(encoding="utf-8")
    if measured.returncode != 0 or "Up to date" not in text:
        raise RuntimeError(f"the unchanged rerun did not find the last run up to date; log: {log}")
    if len(pipeline_run_names(output / "metadata.sqlite")) != runs_before:
        raise RuntimeError(f"the unchanged rerun started a pipeline run; log: {log}")
    return asdict(measured)


def run_command(data: Path, output: Path, overrides: list[str], *flags: str) -> list[str]:
    command = [sys.executable, "-m", "pipeline", "run", "--data", str(data), "--output", str(output), *flags]
    for item in overrides:
        command += ["--set", item]
    return command


def pipeline_run_names(metadata: Path) -> list[str]:
    from pipeline import store as mlmd

    store = mlmd.open_store(mlmd.sqlite_connection(metadata, read_only=True))
    return [run.name for run in mlmd.pipeline_runs(store)]


def run_facts(metadata: Path, process_started: float) -> dict:
    """Per-component seconds, start-up overhead and overall metrics of the newest run in a store."""
    from pipeline import store as mlmd
    from pipeline.summary import summarize_run

    store = mlmd.open_store(mlmd.sqlite_connection(metadata, read_only=True))
    run = mlmd.pipeline_runs(store)[0]
    summary = summarize_run(store, run)
    first_start = min(c.execution.create_time_since_epoch for c in summary.components) / 1000
    overall = (summary.verdict or {}).get("slices", {}).get("Overall", {})
    return {
        "components": {c.component: {"seconds": round(c.seconds, 2), "state": c.state}
                       for c in summary.components},
        "startup_seconds": round(first_start - process_started, 2),
        "auc": overall.get("auc"),
        "accuracy": overall.get("binary_accuracy"),
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


def run_template(project: Path, work: Path, log: Path) -> dict:
    """One cold run of the template (its local_runner.py), in a fresh copy so that nothing is cached."""
    run_dir = work / f"template-run-{time.time_ns()}"
    shutil.copytree(project, run_dir)
    measured = timed_process([sys.executable, "local_runner.py"], run_dir, log)
    if measured.returncode != 0:
        raise RuntimeError(f"the template run failed; log: {log}")
    metadata = run_dir / "tfx_metadata" / "taxi-template" / "metadata.db"
    return {**asdict(measured), **template_facts(metadata, run_dir)}


def template_facts(metadata: Path, run_dir: Path) -> dict:
    """Component seconds and the template's own evaluation (it computes binary accuracy only).

    The template records artifact URIs relative to its project folder.
    """
    import tensorflow_model_analysis as tfma

    from pipeline import store as mlmd

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


# --- the full benchmark ----------------------------------------------------------

@dataclass(frozen=True)
class BenchPlan:
    work: Path
    pairs: int = 3                          # ours vs the template, alternating
    template: bool = True
    sample_rows: int | None = None          # None: the whole taxi CSV
    sizes: tuple[int, ...] = (15_000, 150_000, 1_500_000)
    modes_at: tuple[int, ...] = (150_000,)  # sizes also run with the other BEAM_MODES
    scale_overrides: tuple[str, ...] = ()
    trainer_pairs: int = 3
    evaluator_examples: int = 10_000        # TFMA cost breakdown on the largest size's eval split
    seed: int = 1


# The configured Beam setup (configs/local.yaml: in-process, ExampleGen's
# threads, the Evaluator's processes on large inputs) and two it is compared with.
DEFAULT_MODE = "default"
NO_COMPONENT_ARGS = ["component_beam_args.example_gen=[]", "component_beam_args.evaluator=[]"]
BEAM_MODES = {
    DEFAULT_MODE: [],
    "in_process": NO_COMPONENT_ARGS,
    "multi_processing": [
        "beam_args=[--direct_running_mode=multi_processing, --direct_num_workers=0, "
        "--sdk_container_image=unused-by-direct-runner]", *NO_COMPONENT_ARGS],
}


def bench_all(plan: BenchPlan, report, save=lambda results: None) -> dict:
    """Every measurement of issue 8, in one session on this machine; returns the results.

    `save` gets the results so far after each step, so that an hour of
    measurements survives a failure in a later step.
    """
    from data.prepare import packaged_taxi_csv, write_sample

    plan.work.mkdir(parents=True, exist_ok=True)
    logs = plan.work / "logs"
    results: dict = {"machine": machine(), "plan": {**asdict(plan), "work": str(plan.work)},
                     "settings": run_settings()}
    if plan.sample_rows:
        data = write_sample(plan.work / "taxi-sample", plan.sample_rows)
    else:
        data = packaged_taxi_csv()
    project = template_project(plan.work, logs / "template-copy.log") if plan.template else None
    pairs = []
    for index in range(plan.pairs):
        pair = {}
        if project is not None:
            pair["template"] = run_template(project, plan.work, logs / f"template-{index}.log")
            report(f"pair {index + 1}: template {pair['template']['seconds']:.1f} s")
        output = plan.work / f"ours-{index}"
        shutil.rmtree(output, ignore_errors=True)
        pair["ours"] = run_ours(data, output, [], logs / f"ours-{index}.log")
        pair["ours_cached"] = rerun_unchanged(data, output, logs / f"ours-{index}-unchanged.log")
        pair["ours_forced"] = run_ours(data, output, [], logs / f"ours-{index}-forced.log", "--force")
        report(f"pair {index + 1}: ours {pair['ours']['seconds']:.1f} s cold, "
               f"{pair['ours_cached']['seconds']:.1f} s unchanged rerun, "
               f"{pair['ours_forced']['seconds']:.1f} s forced rerun (TFX's cache)")
        pairs.append(pair)
    results["pairs"] = pairs
    save(results)
    results["scale"] = bench_scale(plan, logs, report)
    save(results)
    if plan.evaluator_examples and plan.sizes:
        largest = plan.work / f"scale-{max(plan.sizes)}-{DEFAULT_MODE}" / "pipeline_root"
        results["evaluator"] = bench_evaluator(largest, plan.evaluator_examples, logs / "evaluator.log")
        report(f"evaluator breakdown on {results['evaluator']['examples']:,} examples: "
               f"{results['evaluator']['seconds']}")
        save(results)
    if plan.trainer_pairs and pairs:
        results["trainer"] = bench_trainer(plan.work / "ours-0" / "pipeline_root", plan.trainer_pairs, 3,
                                           lambda line: report("trainer " + line))
    results["startup"] = bench_startup(plan.work, logs, pairs)
    results["summary"] = summarize(results)
    return results


def run_settings() -> dict:
    """What the default configuration asks of a run: the training budget and the evaluation's size."""
    from components.evaluation import REPORTED_METRICS
    from configs.settings import load_config

    config = load_config(None, check_paths=False)
    return {"epochs": config.training.epochs,
            "max_examples_per_epoch": config.training.max_examples_per_epoch,
            "steps_per_execution": config.training.steps_per_execution,
            "evaluator_from_rows": config.component_beam_args.evaluator_from_rows,
            "slicings": len(config.evaluation.slices), "metrics": len(REPORTED_METRICS)}


def bench_scale(plan: BenchPlan, logs: Path, report) -> list[dict]:
    from data.generator import GeneratorSpec, generate, load_source

    source = load_source()
    rows = []
    for size in plan.sizes:
        data = generate(GeneratorSpec(rows=size, seed=plan.seed), plan.work / f"data-{size}", source)
        modes = BEAM_MODES if size in plan.modes_at else {DEFAULT_MODE: []}
        for mode, extra in modes.items():
            output = plan.work / f"scale-{size}-{mode}"
            shutil.rmtree(output, ignore_errors=True)
            log = logs / f"scale-{size}-{mode}.log"
            measured = run_ours(data, output, [*plan.scale_overrides, *extra], log)
            rows.append({"rows": size, "mode": mode, **measured})
            report(f"scale {size:,} rows, {mode}: {measured['seconds']:.1f} s, "
                   f"peak {measured['max_rss_mib']:.0f} MiB")
    return rows


def bench_evaluator(pipeline_root: Path, examples: int, log: Path) -> dict:
    """`python -m pipeline.bench_evaluator`: TFMA's time by slicings and metrics, on one sample."""
    result = subprocess.run([sys.executable, "-m", "pipeline.bench_evaluator", str(pipeline_root),
                             "--examples", str(examples)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"the Evaluator breakdown failed; log: {log}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_startup(work: Path, logs: Path, pairs: list[dict]) -> dict:
    """Start-up: process start to the first component, and commands that must not load TensorFlow."""
    light = {}
    for name, command in (("help", ["--help"]), ("check-config", ["check-config"])):
        times = [timed_process([sys.executable, "-m", "pipeline", *command], PROJECT_ROOT,
                               logs / f"startup-{name}.log").seconds for _ in range(3)]
        light[name] = round(statistics.median(times), 2)
    starts = [pair["ours"]["startup_seconds"] for pair in pairs]
    return {"to_first_component_seconds": starts, "median_to_first_component": _median(starts),
            "light_commands_median_seconds": light}


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(results: dict) -> dict:
    pairs = results["pairs"]
    ours = [p["ours"]["seconds"] for p in pairs]
    cached_ratios = [p["ours_cached"]["seconds"] / p["ours"]["seconds"] for p in pairs]
    forced_ratios = [p["ours_forced"]["seconds"] / p["ours"]["seconds"] for p in pairs]
    summary = {"ours_median_seconds": _median(ours),
               "cached_median_seconds": _median([p["ours_cached"]["seconds"] for p in pairs]),
               "cached_median_ratio": _median(cached_ratios),
               "cached_ratios": [round(r, 3) for r in cached_ratios],
               "forced_median_seconds": _median([p["ours_forced"]["seconds"] for p in pairs]),
               "forced_median_ratio": _median(forced_ratios),
               "forced_ratios": [round(r, 3) for r in forced_ratios],
               "ours_auc": _median([p["ours"]["auc"] for p in pairs]),
               "ours_accuracy": _median([p["ours"]["accuracy"] for p in pairs])}
    with_template = [p for p in pairs if "template" in p]
    if with_template:
        ratios = [p["ours"]["seconds"] / p["template"]["seconds"] for p in with_template]
        summary.update({
            "template_median_seconds": _median([p["template"]["seconds"] for p in with_template]),
            "versus_template_ratios": [round(r, 3) for r in ratios],
            "versus_template_median_ratio": _median(ratios),
            "template_accuracy": _median([p["template"]["accuracy"] for p in with_template]),
        })
    default = sorted((row for row in results["scale"] if row["mode"] == DEFAULT_MODE),
                     key=lambda row: row["rows"])
    if len(default) >= 2:
        import math

        small, large = default[-2], default[-1]
        summary["growth_exponent"] = round(math.log(large["seconds"] / small["seconds"])
                                           / math.log(large["rows"] / small["rows"]), 3)
        summary["growth_between"] = [small["rows"], large["rows"]]
    if default:
        summary["largest_rows"] = default[-1]["rows"]
        summary["largest_minutes"] = round(default[-1]["seconds"] / 60, 2)
    return summary


# --- documents -------------------------------------------------------------------

SCALE_COMPONENTS = ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")


def write_bench_docs(results: dict, results_file: Path, docs: Path) -> tuple[Path, Path]:
    """docs/benchmarks.md (from a Jinja2 template) and docs/benchmarks.png, from the results only."""
    import jinja2

    results = json.loads(json.dumps(results))  # exactly what results.json holds
    docs.mkdir(parents=True, exist_ok=True)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "pipeline" / "templates"),
        undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    pairs = results["pairs"]
    components = []
    for pair in pairs[:1]:
        for side in ("template", "ours"):
            for name in pair.get(side, {}).get("components", {}):
                if name not in components:
                    components.append(name)
    cached_components = []
    if pairs:
        cold, warm = pairs[0]["ours"]["components"], pairs[0]["ours_forced"]["components"]
        cached_components = [(name, cold[name]["seconds"], warm[name]["seconds"], warm[name]["state"].lower())
                             for name in warm if name in cold]
    largest, modes = largest_run_shares(results["scale"]), beam_mode_ratios(results["scale"])
    text = environment.get_template("benchmarks.md.j2").render(
        r=results, s=results["summary"], m=results["machine"],
        command=results.get("command", "python -m pipeline bench all"),
        results_file=os.path.relpath(results_file, PROJECT_ROOT), components=components,
        cached_components=cached_components, scale_components=SCALE_COMPONENTS, fmt=_fmt,
        largest=largest, modes=modes)
    markdown = docs / "benchmarks.md"
    markdown.write_text(text, encoding="utf-8")
    return markdown, plot_bench(results, docs / "benchmarks.png")


def largest_run_shares(scale: list[dict]) -> dict | None:
    """The largest run in the default mode: its rows, seconds and each component's share of its time."""
    runs = [row for row in scale if row["mode"] == DEFAULT_MODE]
    if not runs:
        return None
    run = max(runs, key=lambda row: row["rows"])
    shares = {name: round(100 * run["components"][name]["seconds"] / run["seconds"])
              for name in SCALE_COMPONENTS if name in run["components"]}
    return {"rows": run["rows"], "seconds": run["seconds"], "shares": shares}


def beam_mode_ratios(scale: list[dict]) -> list[dict]:
    """Per size run in several modes, each component's time in another mode over its default time."""
    default = {row["rows"]: row for row in scale if row["mode"] == DEFAULT_MODE}
    comparisons = []
    for row in scale:
        if row["mode"] == DEFAULT_MODE or row["rows"] not in default:
            continue
        base = default[row["rows"]]
        for name in (*SCALE_COMPONENTS, None):
            before = base["seconds"] if name is None else base["components"].get(name, {}).get("seconds")
            after = row["seconds"] if name is None else row["components"].get(name, {}).get("seconds")
            if before and after:
                comparisons.append({"rows": row["rows"], "mode": row["mode"],
                                    "component": name or "whole run", "default": before, "other": after,
                                    "ratio": round(after / before, 2)})
    return comparisons


def _fmt(value, digits: int = 3) -> str:
    """A figure to `digits` places; "-" for one that was not measured (None or missing)."""
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def plot_bench(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    pairs = results["pairs"]
    series = [("template", "TFX template (cold)", "#9aa5b1"), ("ours", "this project (cold)", "#4a78a8"),
              ("ours_forced", "this project (run --force, TFX cache)", "#7fb07f"),
              ("ours_cached", "this project (unchanged rerun)", "#2f7a4a")]
    present = [(key, label, color) for key, label, color in series if pairs and key in pairs[0]]
    width = 0.8 / max(len(present), 1)
    for offset, (key, label, color) in enumerate(present):
        left.bar([i + offset * width for i in range(len(pairs))], [p[key]["seconds"] for p in pairs],
                 width=width, label=label, color=color)
    left.set_xticks([i + width * (len(present) - 1) / 2 for i in range(len(pairs))],
                    [f"pair {i + 1}" for i in range(len(pairs))])
    tallest = max((p[key]["seconds"] for p in pairs for key, _, _ in present), default=1.0)
    left.set_ylim(0, 1.45 * tallest)  # room for the legend above the bars
    left.set_ylabel("wall seconds (whole process)")
    left.set_title("Full run on the taxi CSV")
    left.legend(frameon=False, fontsize=8)
    for mode, marker in zip(BEAM_MODES, "osd", strict=True):
        rows = sorted((r for r in results["scale"] if r["mode"] == mode), key=lambda r: r["rows"])
        if rows:
            right.plot([r["rows"] for r in rows], [r["seconds"] for r in rows], marker=marker, label=mode)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("rows")
    right.set_ylabel("wall seconds")
    right.set_title("Scale (synthetic data, Beam DirectRunner)")
    right.legend(frameon=False, fontsize=8)
    machine_line = f"{results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB, " \
                   f"{results['machine']['date']}"
    figure.suptitle(f"Measured by python -m pipeline bench all · {machine_line}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path
