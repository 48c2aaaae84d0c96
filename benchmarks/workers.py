"""The Trainer on one process against two worker processes, at two data sizes, alternating.

`python -m benchmarks workers` (and a step of `python -m benchmarks all`):
for each size, one pipeline run makes the Transform outputs, then the
Trainer alone (trainer.standalone, as run_fn trains) runs in turn with
training.workers 1 and 2, each pair after waiting for a quiet machine. The
wall time is the whole training process from outside (worker start-up
included); examples/s is the training record's (fit only).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import PROJECT_ROOT, machine, run_ours
from benchmarks.quiet import describe, wait_for_quiet
from pipeline.shared.layout import OutputLayout

WORKER_COUNTS = (1, 2)


def train_timed(pipeline_root: Path, workers: int, epochs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as work:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "trainer.standalone", str(pipeline_root), work,
             "--set", f"training.workers={workers}", "--set", f"training.epochs={epochs}",
             "--set", "training.early_stopping_patience=1000"],
            capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
        seconds = time.perf_counter() - started
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if "record" not in outcome:
        raise RuntimeError(f"training failed: {outcome}")
    record = outcome["record"]
    return {"wall_seconds": round(seconds, 2), "train_seconds": record["train_seconds"],
            "examples_per_second": record["examples_per_second"], "strategy": record["strategy"],
            "workers": record["workers"], "global_batch_size": record["global_batch_size"],
            "final_val_auc": round(record["final_metrics"].get("val_auc", float("nan")), 4)}


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def bench_workers(work: Path, sizes: list[int], pairs: int, epochs: int, quiet_wait: float, report) -> dict:
    from data.generator import GeneratorSpec, generate
    from data.prepare import load_source

    source, results = load_source(), []
    for size in sizes:
        root = OutputLayout(work / f"scale-{size}-default").pipeline_root  # from `bench all`
        if not root.exists():
            data = generate(GeneratorSpec(rows=size, seed=1), work / f"data-{size}", source)
            output = work / f"workers-{size}"
            if not OutputLayout(output).pipeline_root.exists():
                run_ours(data, output, ["training.epochs=1"], work / "logs" / f"workers-{size}.log")
            root = OutputLayout(output).pipeline_root
        runs: dict[int, list[dict]] = {n: [] for n in WORKER_COUNTS}
        states = []
        for pair in range(pairs):
            state = wait_for_quiet(quiet_wait, report)
            states.append(state.as_dict())
            report(f"{size:,} rows, pair {pair + 1}: machine {'quiet' if state.quiet else 'BUSY'} "
                   f"({describe(state)})")
            for workers in WORKER_COUNTS:
                runs[workers].append(train_timed(root, workers, epochs))
                last = runs[workers][-1]
                report(f"{size:,} rows, pair {pair + 1}, {workers} worker(s): {last['wall_seconds']:.1f} s, "
                       f"{last['examples_per_second']:.0f} examples/s")
        ratios = [two["wall_seconds"] / one["wall_seconds"]
                  for one, two in zip(runs[1], runs[2], strict=True)]
        results.append({
            "rows": size, "epochs": epochs, "machine_before_pairs": states,
            "wall_seconds": {n: spread([r["wall_seconds"] for r in runs[n]]) for n in runs},
            "examples_per_second": {n: spread([r["examples_per_second"] for r in runs[n]]) for n in runs},
            "wall_ratio_2_over_1": spread([round(ratio, 3) for ratio in ratios]),
            "runs": runs,
        })
    return {"machine": machine(), "sizes": results}
