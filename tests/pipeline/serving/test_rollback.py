"""`models rollback` on the serving folder and store of real runs: the switch, its record, a real kill.

The output folder of the shared e2e runs is copied and one more run, with a
different dropout, pushes a second model; the tests then roll back to the
first, in file order (each starts from what the one before left).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from components.production_baseline.executor import production_model
from components.versioned_pusher.versions import PARTIAL_PREFIX, complete_local_versions
from pipeline.metadata import releases
from pipeline.metadata import store as mlmd
from pipeline.serving.predict import resolve_model
from pipeline.serving.rollback import fingerprint
from tests.conftest import PROJECT_ROOT, cli, run_pipeline_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def output(pipeline_runs, taxi_sample_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rollback") / "out"
    shutil.copytree(pipeline_runs[0], folder)
    second = run_pipeline_cli(taxi_sample_dir, folder, "--set", "training.dropout=0.25",
                              "--set", "evaluation.max_auc_drop_vs_baseline=1.0")
    assert second.returncode == 0, second.stdout + second.stderr
    versions = complete_local_versions(folder / "serving")
    assert len(versions) == 2 and fingerprint(folder / "serving", versions[0]) != \
        fingerprint(folder / "serving", versions[1])
    return folder


def rollback(output: Path, *arguments: str, code: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run(cli("models", "rollback", "--output", str(output), *arguments), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


def models(output: Path) -> list[dict]:
    """`models --json` for the output folder (TAXI_TFX_OUTPUT): the served mark reads its serving folder."""
    result = subprocess.run(cli("models", "--json"), cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TAXI_TFX_OUTPUT": str(output)}, check=True)
    return json.loads(result.stdout)


def history(output: Path) -> list[releases.ReleaseRecord]:
    store = mlmd.open_store(mlmd.connection_from_url(str(output / "metadata.sqlite")))
    return releases.release_history(store, None)


def test_rollback_serves_the_earlier_model_again_and_records_who_and_why(output):
    serving = output / "serving"
    first, second = complete_local_versions(serving)
    before = {row["version"]: row for row in models(output)}
    result = json.loads(rollback(output, "--reason", "latency regression in v2", "--json").stdout)
    assert (result["from_version"], result["to_version"]) == (str(second), str(first))
    versions = complete_local_versions(serving)
    assert versions[:2] == [first, second] and str(versions[-1]) == result["new_version"]
    assert fingerprint(serving, versions[-1]) == fingerprint(serving, first)
    # What the next run's Evaluator compares against, and what predict scores with.
    assert production_model(str(serving))[0] == str(serving / result["new_version"])
    assert resolve_model("latest", serving) == serving / result["new_version"]
    (record,) = history(output)
    assert (record.state, record.action, record.user, record.reason) == \
        ("COMPLETE", "rollback", getpass.getuser(), "latency regression in v2")
    assert (record.from_version, record.to_version, record.new_version) == \
        (str(second), str(first), result["new_version"])
    rows = models(output)
    assert rows[0]["version"] == result["new_version"] and rows[0]["served"]
    assert not any(row["served"] for row in rows[1:])
    assert rows[0]["note"] == f"rollback to {first} by {getpass.getuser()}: latency regression in v2"
    assert rows[0]["run_id"] == before[str(first)]["run_id"] and rows[0]["auc"] == before[str(first)]["auc"]
    trace = subprocess.run(cli("lineage", "trace", "latest-pushed", "--json", "--store",
                               str(output / "metadata.sqlite")), cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=120, check=True)
    tree = json.loads(trace.stdout)
    action = tree["children"][0]
    assert action["label"] == "ReleaseAction" and action["details"]["reason"] == "latency regression in v2"
    assert action["children"][0]["details"]["pushed_version"] == str(first)
    assert "Trainer" in trace.stdout


@pytest.mark.parametrize(("arguments", "named"), [
    ([], "--reason"),
    (["--reason", "  "], "--reason: empty"),
    (["--reason", "x", "--to", "123"], "--to 123: no such version"),
    (["--reason", "x", "--to", "first"], "it holds the model served now"),
])
def test_a_bad_argument_changes_nothing(output, arguments, named):
    serving = output / "serving"
    first = complete_local_versions(serving)[0]
    arguments = [str(first) if value == "first" else value for value in arguments]
    listing, records = sorted(os.listdir(serving)), history(output)
    result = rollback(output, *arguments, code=2)
    assert named in (result.stdout + result.stderr).strip().splitlines()[-1]
    assert sorted(os.listdir(serving)) == listing and history(output) == records


KILLED_ROLLBACK = """
import shutil, sys, time
from pathlib import Path
from pipeline.metadata import releases, store as mlmd
from pipeline.serving.rollback import plan_rollback, publish

output, started = Path(sys.argv[1]), Path(sys.argv[2])

def slow_copy(source, target, ignore=None):
    def copy_slowly(src, dst):
        started.touch()
        time.sleep(0.3)
        return shutil.copy2(src, dst)
    return shutil.copytree(source, target, ignore=ignore, copy_function=copy_slowly)

store = mlmd.open_store(mlmd.sqlite_connection(output / "metadata.sqlite"))
plan = plan_rollback(output / "serving", None)
action = releases.begin(store, "taxi-tfx", {"action": "rollback", "user": "test", "reason": "killed",
                        "from_version": plan.from_version, "to_version": plan.to_version,
                        "new_version": plan.new_version, "serving_dir": str(output / "serving")})
publish(plan, {"reason": "killed"}, copy_tree=slow_copy)
"""


def test_a_rollback_killed_mid_copy_never_shows_half_a_switch_and_the_next_one_settles_it(output, tmp_path):
    serving = output / "serving"
    served_before = complete_local_versions(serving)[-1]
    seen: set[int] = set()
    broken: list[str] = []
    stop = threading.Event()

    def read_served_version():  # what TF Serving, predict and the baseline lookup would pick
        while not stop.is_set():
            newest = complete_local_versions(serving)[-1]
            if not (serving / str(newest) / "saved_model.pb").is_file():
                broken.append(f"{newest} has no saved_model.pb")
            seen.add(newest)

    reader = threading.Thread(target=read_served_version, daemon=True)
    reader.start()
    started = tmp_path / "copy-started"
    process = subprocess.Popen([sys.executable, "-c", KILLED_ROLLBACK, str(output), str(started)],
                               cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 60
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the copy never started"
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    stop.set()
    reader.join(timeout=10)
    assert not broken and seen == {served_before}
    assert [p for p in os.listdir(serving) if p.startswith(PARTIAL_PREFIX)], "the kill left its partial copy"
    assert history(output)[0].state == "RUNNING"
    result = json.loads(rollback(output, "--reason", "after the kill", "--json").stdout)
    records = history(output)
    assert [r.state for r in records[:2]] == ["COMPLETE", "CANCELED"] and records[1].reason == "killed"
    assert not [p for p in os.listdir(serving) if p.startswith(PARTIAL_PREFIX)]
    assert str(complete_local_versions(serving)[-1]) == result["new_version"]
