"""A newcomer's first `make run` (issue 33, goal 5): a fresh clone, nothing cached, setup included.

`python -m benchmarks newcomer` (and a step of `python -m benchmarks all`):
each repetition clones this repository's HEAD into the scratch folder and runs
`make setup` and then `make run` there, each timed from outside, with an
empty uv cache (UV_CACHE_DIR pointing at a new folder, PIP_NO_CACHE_DIR set),
so every package is downloaded from PyPI as on a new machine. The machine's
Debian packages are what they are: a package that is already installed (the
run needs graphviz) is not installed again, which the results record. The
clone, its 3 GB venv and the cache are removed after each repetition.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from benchmarks.inputs import spread
from benchmarks.measure import PROJECT_ROOT, machine, timed_process
from benchmarks.quiet import describe, wait_for_quiet

# `make run`'s summary line: "Run <id> finished in 21.7 s (imports 3.5 s, pipeline 18.2 s)".
FINISHED = "finished in "


def debian_packages_installed(packages: list[str]) -> dict[str, bool]:
    state = {}
    for package in packages:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        state[package] = result.returncode == 0 and "install ok installed" in result.stdout
    return state


def bench_newcomer(work, repeats: int, quiet_wait: float, report) -> dict:
    logs = work / "logs"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    runs, states = [], []
    for index in range(repeats):
        clone, cache = work / f"newcomer-{index}", work / f"newcomer-uv-cache-{index}"
        for folder in (clone, cache):
            shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
        state = wait_for_quiet(quiet_wait, report)
        states.append(state.as_dict())
        packages = debian_packages_installed(["graphviz"])
        env = {"UV_CACHE_DIR": str(cache), "PIP_NO_CACHE_DIR": "1"}
        setup = timed_process(["make", "setup"], clone, logs / f"newcomer-{index}-setup.log", env=env)
        run = timed_process(["make", "run"], clone, logs / f"newcomer-{index}-run.log", env=env)
        if setup.returncode != 0 or run.returncode != 0:
            raise RuntimeError(f"the newcomer's make setup/run failed; logs: {setup.log}, {run.log}")
        lines = Path(run.log).read_text(encoding="utf-8").splitlines()
        summary = next((line for line in lines if FINISHED in line), "")
        runs.append({"setup_seconds": round(setup.seconds, 1), "run_seconds": round(run.seconds, 1),
                     "total_seconds": round(setup.seconds + run.seconds, 1),
                     "debian_packages_already_installed": packages, "run_summary": summary.strip()})
        report(f"newcomer {index + 1} (machine {'quiet' if state.quiet else 'BUSY'}: {describe(state)}): "
               f"make setup {setup.seconds:.1f} s + make run {run.seconds:.1f} s")
        for folder in (clone, cache):
            shutil.rmtree(folder, ignore_errors=True)
    return {"machine": machine(), "commit": head, "machine_before_repetitions": states,
            "setup_seconds": spread([r["setup_seconds"] for r in runs]),
            "run_seconds": spread([r["run_seconds"] for r in runs]),
            "total_seconds": spread([r["total_seconds"] for r in runs]), "runs": runs}
