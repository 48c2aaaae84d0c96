"""Benchmarks, measured on this machine and written to a results file.

`python -m pipeline bench trainer` alternates 1 and 2 replicas (A B A B …) on
the same Transform outputs, each in a fresh process, and reports medians and
the per-pair ratio. Figures are only ever produced by this code.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path


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
