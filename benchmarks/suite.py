"""`python -m benchmarks all`: this project against TFX's template, reruns, scale, Trainer, start-up.

Every figure is produced by this code in one session on this machine and
saved to a results file; docs/benchmarks.md is rendered from that file only.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.measure import (
    LAUNCH_ENVIRONMENT,
    PROJECT_ROOT,
    bench_trainer,
    machine,
    pipeline_run_names,
    rerun_unchanged,
    run_ours,
    run_template,
    template_project,
    timed_process,
)
from benchmarks.quiet import describe, wait_for_quiet
from pipeline.shared.layout import OutputLayout


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
    worker_sizes: tuple[int, ...] = (150_000, 1_500_000)  # the Trainer on 1 vs 2 worker processes
    worker_pairs: int = 2
    inputs_rows: int = 1_500_000            # the pre-flight check and predict on a file of this size
    inputs_repeats: int = 3
    newcomer_repeats: int = 3               # a fresh clone's make setup + make run, nothing cached
    lineage_runs: int = 1_000               # the store the lineage commands are timed on
    evaluator_examples: int = 10_000        # TFMA cost breakdown on the largest size's eval split
    seed: int = 1
    quiet_wait_seconds: float = 300.0       # before each pair and each size: wait this long for quiet


# The configured Beam setup (configs/local.yaml: in-process, ExampleGen's
# threads, the Evaluator's processes on large inputs) and two it is compared with.
DEFAULT_MODE = "default"
NO_COMPONENT_ARGS = ["component_beam_args.example_gen=[]", "component_beam_args.evaluator=[]"]
TEMPLATE_MODE = "template"   # TFX's template on the same file, in the scale rows
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
        pair = {"machine": checked_machine(plan, report, f"pair {index + 1}")}
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
    results["scale"] = bench_scale(plan, logs, report, project)
    save(results)
    if plan.evaluator_examples and plan.sizes:
        largest = OutputLayout(plan.work / f"scale-{max(plan.sizes)}-{DEFAULT_MODE}").pipeline_root
        results["evaluator"] = bench_evaluator(largest, plan.evaluator_examples, logs / "evaluator.log")
        report(f"evaluator breakdown on {results['evaluator']['examples']:,} examples: "
               f"{results['evaluator']['seconds']}")
        save(results)
    if plan.trainer_pairs and pairs:
        results["trainer"] = bench_trainer(OutputLayout(plan.work / "ours-0").pipeline_root,
                                           plan.trainer_pairs, 3, lambda line: report("trainer " + line))
    if plan.worker_pairs and plan.worker_sizes:
        from benchmarks.workers import bench_workers

        results["workers"] = bench_workers(plan.work, list(plan.worker_sizes), plan.worker_pairs, 2,
                                           plan.quiet_wait_seconds, lambda line: report("workers " + line))
        save(results)
    if plan.inputs_rows and plan.inputs_repeats:
        from benchmarks.inputs import bench_inputs

        results["inputs"] = bench_inputs(plan.work, plan.inputs_rows, plan.inputs_repeats,
                                         plan.quiet_wait_seconds, lambda line: report("inputs " + line))
        save(results)
    if plan.newcomer_repeats:
        from benchmarks.newcomer import bench_newcomer

        results["newcomer"] = bench_newcomer(plan.work, plan.newcomer_repeats, plan.quiet_wait_seconds,
                                             lambda line: report("newcomer " + line))
        save(results)
    results["startup"] = bench_startup(plan.work, logs, pairs)
    if plan.lineage_runs and pairs:
        first_store = OutputLayout(plan.work / "ours-0").metadata_file
        results["lineage"] = bench_lineage(first_store, plan, logs, report)
        save(results)
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


def bench_scale(plan: BenchPlan, logs: Path, report, template: Path | None = None) -> list[dict]:
    """Our run at each size (and Beam modes); at the largest size the template too, right after, same file."""
    from data.generator import GeneratorSpec, generate
    from data.prepare import load_source

    source = load_source()
    rows = []
    for size in plan.sizes:
        data = generate(GeneratorSpec(rows=size, seed=plan.seed), plan.work / f"data-{size}", source)
        modes = BEAM_MODES if size in plan.modes_at else {DEFAULT_MODE: []}
        for mode, extra in modes.items():
            output = plan.work / f"scale-{size}-{mode}"
            shutil.rmtree(output, ignore_errors=True)
            log = logs / f"scale-{size}-{mode}.log"
            state = checked_machine(plan, report, f"scale {size:,} rows, {mode}")
            measured = run_ours(data, output, [*plan.scale_overrides, *extra], log)
            rows.append({"rows": size, "mode": mode, **measured, "machine": state})
            report(f"scale {size:,} rows, {mode}: {measured['seconds']:.1f} s, "
                   f"peak {measured['max_rss_mib']:.0f} MiB")
        if template is not None and size == max(plan.sizes):
            state = checked_machine(plan, report, f"scale {size:,} rows, the template")
            measured = run_template(template, plan.work, logs / f"scale-{size}-template.log", data)
            rows.append({"rows": size, "mode": TEMPLATE_MODE, **measured, "machine": state})
            report(f"scale {size:,} rows, the template: {measured['seconds']:.1f} s, "
                   f"peak {measured['max_rss_mib']:.0f} MiB")
    return rows


def bench_evaluator(pipeline_root: Path, examples: int, log: Path) -> dict:
    """`python -m benchmarks.evaluator`: TFMA's time by slicings and metrics, on one sample."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.evaluator", str(pipeline_root),
                             "--examples", str(examples)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={**LAUNCH_ENVIRONMENT, "TF_CPP_MIN_LOG_LEVEL": "2"})
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


# The lineage commands timed on a store of many runs (goal: each under a second).
LINEAGE_COMMANDS = {
    "lineage runs": ["lineage", "runs"],
    "lineage show": ["lineage", "show", "latest"],
    "lineage trace latest-pushed": ["lineage", "trace", "latest-pushed"],
    "why": ["why", "latest"],
    "models": ["models"],
}


def bench_lineage(source: Path, plan: BenchPlan, logs: Path, report, repeats: int = 3) -> dict:
    """Each lineage command, in fresh processes, on a copy of a real store grown to `plan.lineage_runs` runs.

    The store is the first pair's (a cold and a forced run); its runs are
    replayed (benchmarks/mlmd_replay.py) the way TFX records cached runs.
    """
    from benchmarks.mlmd_replay import replay_runs

    store = plan.work / "lineage-store.sqlite"
    shutil.copyfile(source, store)
    originals = len(pipeline_run_names(store))
    runs = replay_runs(store, max(0, -(-plan.lineage_runs // originals) - 1))
    seconds = {}
    for name, command in LINEAGE_COMMANDS.items():
        checked_machine(plan, report, f"lineage {name}")
        times = []
        for attempt in range(repeats):
            measured = timed_process([sys.executable, "-m", "pipeline", *command, "--store", str(store)],
                                     PROJECT_ROOT, logs / f"lineage-{command[-1]}-{attempt}.log")
            if measured.returncode != 0:
                raise RuntimeError(f"{name} failed on the replayed store; log: {measured.log}")
            times.append(measured.seconds)
        seconds[name] = spread(times)
        report(f"{name} on {runs:,} runs: {seconds[name]['median']:.2f} s (median of {repeats})")
    return {"runs": runs, "seconds": seconds}


def checked_machine(plan: BenchPlan, report, what: str) -> dict:
    """The machine's state before a measurement, after waiting (up to the plan's limit) for quiet."""
    state = wait_for_quiet(plan.quiet_wait_seconds, report)
    report(f"{what}: machine {'quiet' if state.quiet else 'BUSY, marked'} ({describe(state)})")
    return state.as_dict()


def quiet_only(rows: list[dict]) -> list[dict]:
    """The rows measured on a quiet machine, or every row when none was."""
    quiet = [row for row in rows if row.get("machine", {}).get("quiet", True)]
    return quiet or rows


def spread(values) -> dict | None:
    """Minimum, median and maximum of the measured values."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
            "max": round(max(values), 3)}


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize(results: dict) -> dict:
    pairs = quiet_only(results["pairs"])
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
               "ours_accuracy": _median([p["ours"]["accuracy"] for p in pairs]),
               "counted_pairs": len(pairs),
               "busy_pairs": sum(not p.get("machine", {}).get("quiet", True) for p in results["pairs"]),
               "ours_seconds_spread": spread(ours),
               "cached_seconds_spread": spread([p["ours_cached"]["seconds"] for p in pairs]),
               "forced_seconds_spread": spread([p["ours_forced"]["seconds"] for p in pairs])}
    with_template = [p for p in pairs if "template" in p]
    if with_template:
        ratios = [p["ours"]["seconds"] / p["template"]["seconds"] for p in with_template]
        summary.update({
            "template_median_seconds": _median([p["template"]["seconds"] for p in with_template]),
            "versus_template_ratios": [round(r, 3) for r in ratios],
            "versus_template_median_ratio": _median(ratios),
            "versus_template_ratio_spread": spread(ratios),
            "template_seconds_spread": spread([p["template"]["seconds"] for p in with_template]),
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
        summary.update(largest_run_summary(default[-1], [row for row in results["scale"]
                                                         if row["mode"] == TEMPLATE_MODE]))
    if results.get("lineage"):
        medians = {name: spread["median"] for name, spread in results["lineage"]["seconds"].items()}
        summary["lineage_runs"] = results["lineage"]["runs"]
        summary["lineage_slowest"] = max(medians.items(), key=lambda item: item[1])
    return summary


# The Evaluator's rate on 1,500,000 rows before its metrics shared a combiner (issue 19):
# 500,000 eval rows in 339 s.
EVALUATOR_BASELINE_ROWS_PER_SECOND = 1_470


def largest_run_summary(largest: dict, template_rows: list[dict]) -> dict:
    """The largest default run: minutes, peak memory, ExampleGen and Evaluator rows/s, template ratio."""
    components = largest["components"]
    summary = {"largest_rows": largest["rows"], "largest_minutes": round(largest["seconds"] / 60, 2),
               "largest_peak_gib": round(largest["max_rss_mib"] / 1024, 2)}
    if components.get("CsvExampleGen", {}).get("seconds"):
        summary["largest_example_gen_rows_per_second"] = round(
            largest["rows"] / components["CsvExampleGen"]["seconds"])
    if largest.get("eval_examples") and components.get("Evaluator", {}).get("seconds"):
        rate = largest["eval_examples"] / components["Evaluator"]["seconds"]
        summary["largest_evaluator_eval_rows_per_second"] = round(rate)
        summary["largest_evaluator_speedup"] = round(rate / EVALUATOR_BASELINE_ROWS_PER_SECOND, 2)
    same_size = [row for row in template_rows if row["rows"] == largest["rows"]]
    if same_size:
        summary["largest_template_minutes"] = round(same_size[-1]["seconds"] / 60, 2)
        summary["largest_template_peak_gib"] = round(same_size[-1]["max_rss_mib"] / 1024, 2)
        summary["largest_versus_template_ratio"] = round(largest["seconds"] / same_size[-1]["seconds"], 3)
        theirs = same_size[-1]["components"].get("Transform", {}).get("seconds")
        if theirs and components.get("Transform", {}).get("seconds"):
            summary["largest_transform_seconds"] = components["Transform"]["seconds"]
            summary["largest_template_transform_seconds"] = theirs
            summary["largest_transform_versus_template_ratio"] = round(
                components["Transform"]["seconds"] / theirs, 3)
    return summary
