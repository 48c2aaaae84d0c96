"""The pre-flight check and `predict` on a large CSV file (issue 33, goals 3 and 4).

`python -m benchmarks inputs` (and a step of `python -m benchmarks all`): on
one generated file, each repetition after waiting for a quiet machine,
- the pre-flight check as `run` calls it (`check_input_data`: every row and
  number checked, the same errors), timed in this process, file in the page
  cache;
- `python -m pipeline predict` in a fresh process, timed from outside (start-up,
  the same check, TensorFlow, the model and the output file included), with a
  model a run of this project pushed; rows/s is the file's rows over that time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks.measure import PROJECT_ROOT, machine, run_ours, timed_process
from benchmarks.quiet import describe, wait_for_quiet
from pipeline.shared.layout import OutputLayout


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def preflight_seconds(data: Path) -> tuple[float, int]:
    """One pre-flight check of the file, as `run` does it: (seconds, rows)."""
    from configs.settings import load_config
    from pipeline.run.service import check_input_data

    config = load_config(None, check_paths=False)
    started = time.perf_counter()
    rows = check_input_data(config, SimpleNamespace(paths=[data]))
    return time.perf_counter() - started, rows


def pushed_model(work: Path, logs: Path) -> tuple[Path, Path]:
    """(output folder, model version folder): the taxi run of `bench all` (ours-0), else one made here."""
    from components.versioned_pusher.versions import complete_local_versions
    from data.prepare import packaged_taxi_csv

    for output in (work / "ours-0", work / "inputs-model"):
        serving = OutputLayout(output).serving_dir
        versions = complete_local_versions(serving) if serving.exists() else []
        if versions:
            return output, serving / str(versions[-1])
    output = work / "inputs-model"
    run_ours(packaged_taxi_csv(), output, [], logs / "inputs-model.log")
    serving = OutputLayout(output).serving_dir
    return output, serving / str(complete_local_versions(serving)[-1])


def predict_timed(data: Path, output: Path, model: Path, log: Path) -> dict:
    scored = output / "bench-predictions.csv"
    command = [sys.executable, "-m", "pipeline", "predict", "--data", str(data), "--output", str(scored),
               "--model", str(model), "--set", f"paths.output={output}"]
    measured = timed_process(command, PROJECT_ROOT, log)
    if measured.returncode != 0:
        raise RuntimeError(f"predict failed ({measured.returncode}); log: {log}")
    scored.unlink()
    return {"seconds": round(measured.seconds, 2), "max_rss_mib": measured.max_rss_mib}


def bench_inputs(work: Path, rows: int, repeats: int, quiet_wait: float, report) -> dict:
    from data.generator import GeneratorSpec, generate
    from data.prepare import load_source

    logs = work / "logs"
    data = work / f"data-{rows}" / "data.csv"  # `bench all`'s scale file of this size, when there is one
    if not data.exists():
        data = generate(GeneratorSpec(rows=rows, seed=1), data.parent, load_source())
    output, model = pushed_model(work, logs)
    preflight, predict, states = [], [], []
    for index in range(repeats):
        state = wait_for_quiet(quiet_wait, report)
        states.append(state.as_dict())
        seconds, counted = preflight_seconds(data)
        preflight.append(round(seconds, 3))
        predict.append(predict_timed(data, output, model, logs / f"inputs-predict-{index}.log"))
        report(f"{counted:,} rows, repetition {index + 1} (machine {'quiet' if state.quiet else 'BUSY'}: "
               f"{describe(state)}): pre-flight {seconds:.2f} s, predict {predict[-1]['seconds']:.1f} s")
    predict_seconds = [item["seconds"] for item in predict]
    return {"machine": machine(), "rows": counted, "file_mib": round(data.stat().st_size / 2**20, 1),
            "model": str(model.relative_to(work)) if model.is_relative_to(work) else str(model),
            "machine_before_repetitions": states,
            "preflight_seconds": spread(preflight),
            "predict_seconds": spread(predict_seconds),
            "predict_rows_per_second": spread([round(counted / seconds) for seconds in predict_seconds]),
            "predict_max_rss_mib": max(item["max_rss_mib"] for item in predict),
            "runs": {"preflight": preflight, "predict": predict}}
