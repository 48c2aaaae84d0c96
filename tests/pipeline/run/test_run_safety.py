"""Two runs at once and kills at any moment: real processes, real signals, a real store.

The first test reproduces what was measured on the code before the run lock:
two runs on one output folder interleaved, both exited 0, and the first one's
summary and report described the other's run.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from data.prepare import write_sample
from pipeline.metadata import store as mlmd
from pipeline.shared.layout import OutputLayout
from tests.conftest import (
    PROJECT_ROOT,
    RUN_OVERRIDES,
    cli,
    missing_system_package,
    store_of,
)

pytestmark = pytest.mark.e2e
# Long enough to be stopped in the middle of training; never stopped early by the metric;
# every (short) epoch backed up, so that a backup is there to kill the run after.
LONG_TRAINING = ["--set", "training.epochs=40", "--set", "training.early_stopping_patience=100",
                 "--set", "training.backup_interval_seconds=0"]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    return write_sample(tmp_path_factory.mktemp("small"), 1500).parent


def run_command(data: Path, output: Path) -> list[str]:
    return cli("run", "--data", str(data), "--output", str(output), *RUN_OVERRIDES, *LONG_TRAINING)


def start_run(data: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen(run_command(data, output), cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run_to_end(data: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run(run_command(data, output), cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=900)


def wait_for(condition, what: str, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds} s for {what}")
        time.sleep(0.3)


def newest_log(output: Path) -> str:
    logs = sorted(OutputLayout(output).log_dir.glob("run-*.log"), key=lambda path: path.stat().st_mtime)
    return logs[-1].read_text(errors="replace") if logs else ""


def in_component(output: Path, component: str, log_count: int = 1) -> bool:
    folder = OutputLayout(output).log_dir
    logs = list(folder.glob("run-*.log")) if folder.is_dir() else []
    return len(logs) >= log_count and f"Component {component} is running." in newest_log(output)


def lineage_runs(output: Path) -> list[dict]:
    store = str(OutputLayout(output).metadata_file)
    result = subprocess.run(cli("lineage", "runs", "--json", "--store", store), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def add_intruder_run(output: Path, pipeline_name: str = "taxi-tfx") -> str:
    """A newer run of the same pipeline in the same store, as another writer would add it."""
    store = mlmd.open_store(mlmd.sqlite_connection(OutputLayout(output).metadata_file))
    run_type = store.get_context_type(mlmd.PIPELINE_RUN)
    run = metadata_store_pb2.Context(type_id=run_type.id, name="intruder-run")
    [run_id] = store.put_contexts([run])
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run_id, parent_id=pipeline.id)])
    return run.name


def test_a_second_run_is_refused_and_every_fact_stays_with_the_run_that_made_it(small_data, tmp_path):
    output = tmp_path / "out"
    first = start_run(small_data, output)
    # Once an epoch is saved the Trainer is registered and trains for a while: no MLMD write of the
    # run can collide with this test's own write to the SQLite store.
    wait_for(lambda: list(OutputLayout(output).trainer_backups_dir.glob("*/training_metadata.json")),
             "the first run's first epoch")
    intruder = add_intruder_run(output)  # now "the newest run in the store" is not the first run
    second = run_to_end(small_data, output)
    text, _ = first.communicate(timeout=900)
    assert first.returncode == 0, text
    assert second.returncode == 3, second.stdout + second.stderr
    assert f"another run is using the output folder {output}: pid {first.pid} on" in second.stdout
    assert "Nothing ran" in second.stdout

    [run_id] = [line.split()[1] for line in text.splitlines() if line.startswith("Run ")]
    assert run_id != intruder
    store = store_of(output)
    runs = {run.name: run for run in mlmd.pipeline_runs(store)}
    assert set(runs) == {run_id, intruder}, "the refused run started no pipeline run"
    assert mlmd.custom_value(runs[run_id], "config_file"), "the facts are on the run that made them"
    assert mlmd.custom_value(runs[intruder], "config_file") is None
    layout = OutputLayout(output)
    assert layout.report_file(run_id).is_file() and not layout.report_file(intruder).exists()
    assert f'run_id="{run_id}"' in layout.metrics_file("taxi-tfx").read_text()
    assert "Pushed      " + str(layout.serving_dir) in text and "Evaluation  auc" in text
    assert len([name for name in layout.serving_dir.iterdir() if name.name.isdigit()]) == 1


def test_killed_and_stopped_runs_leave_nothing_half_done_and_the_next_run_resumes(small_data, tmp_path):
    output = tmp_path / "out"
    layout = OutputLayout(output)

    # SIGKILL once the Trainer has saved a backup: nothing can clean up.
    killed = start_run(small_data, output)
    wait_for(lambda: list(layout.trainer_backups_dir.glob("*/training_metadata.json")), "a training backup")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert lineage_runs(output)[0]["status"] == "running or killed"
    why = subprocess.run(cli("why", "--store", str(layout.metadata_file)), cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    assert "No verdict: it stopped at Trainer (running or killed)." in why.stdout, why.stdout

    # SIGTERM in the Trainer of the next run: a clean stop, said as such, 128 + 15.
    stopped = start_run(small_data, output)
    wait_for(lambda: in_component(output, "Trainer", log_count=2), "the second run's Trainer")
    time.sleep(1)
    stopped.send_signal(signal.SIGTERM)
    text, _ = stopped.communicate(timeout=300)
    assert stopped.returncode == 128 + signal.SIGTERM, text
    assert "stopped by signal SIGTERM" in text and "Traceback" not in text
    runs = lineage_runs(output)
    assert runs[0]["status"] == "stopped by SIGTERM at Trainer"
    assert runs[1]["status"] == "stopped at Trainer", "the killed run's Trainer is no longer 'running'"
    assert not layout.serving_dir.exists() or not any(layout.serving_dir.iterdir())

    # Run to the end: finished components from the cache, training from its backup, one version.
    finished = run_to_end(small_data, output)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    for component in ("CsvExampleGen", "StatisticsGen", "Transform"):
        assert re.search(rf"\b{component} \d+\.\ds \(cached\)", finished.stdout), component
    [record] = [json.loads(path.read_text()) for path in
                (layout.pipeline_root / "Trainer" / "model_run").glob("*/training_record.json")]
    assert record["resumed_from_backup"] and record["first_epoch"] > 0, record
    versions = [path.name for path in layout.serving_dir.iterdir()]
    assert len(versions) == 1 and versions[0].isdigit(), versions
    statuses = [run["status"] for run in lineage_runs(output)]
    assert statuses[0].startswith("complete ("), statuses
    assert not any("running" in status for status in statuses), statuses


# The interpreter lives under /root, which another user cannot enter, so the
# command runs in a process that loads the CLI as root and then becomes nobody.
AS_NOBODY = """
import os, pwd, sys
import data.checks, data.errors, pipeline.cli
import pipeline.run.freshness, pipeline.run.inputs, pipeline.run.service
nobody = pwd.getpwnam("nobody")
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
code = pipeline.cli.main(sys.argv[1:])
print("heavy modules:", sorted(m for m in ("tensorflow", "tfx", "apache_beam") if m in sys.modules))
sys.exit(code)
"""


def test_a_serving_folder_this_user_cannot_write_stops_the_run_before_training(small_data):
    if os.geteuid() != 0:
        missing_system_package("running a command as another user needs root (setuid); CI runs as root")
    root = Path(tempfile.mkdtemp(prefix="taxi-tfx-nobody-"))
    try:
        nobody = pwd.getpwnam("nobody")
        shutil.copytree(small_data, root / "data")
        subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
        output = root / "out"
        OutputLayout(output).serving_dir.mkdir(parents=True)  # serving stays root's, read-only to nobody
        os.chown(output, nobody.pw_uid, nobody.pw_gid)
        command = [sys.executable, "-c", AS_NOBODY, *run_command(root / "data", output)[3:]]
        result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"the serving folder {OutputLayout(output).serving_dir} is not writable by this user " \
               f"(uid {nobody.pw_uid})" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr
        assert "heavy modules: []" in result.stdout, "it stopped before TensorFlow, long before training"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_full_serving_disk_is_said_plainly_and_leaves_no_half_version(small_data, tmp_path):
    if os.geteuid() != 0:
        missing_system_package("mounting a small tmpfs needs root; CI runs as root")
    output = tmp_path / "out"
    serving = OutputLayout(output).serving_dir
    serving.mkdir(parents=True)
    # Smaller than one pushed model (about 750 KB of SavedModel).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(serving)], check=True)
    try:
        command = cli("run", "--data", str(small_data), "--output", str(output), *RUN_OVERRIDES)
        result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "The run stopped at Pusher." in result.stdout
        assert "The disk is full where the run writes" in result.stdout
        assert "Nothing was pushed by this run." in result.stdout
        assert os.listdir(serving) == [], "no version and no partial folder is left behind"
        assert lineage_runs(output)[0]["status"] == "failed at Pusher"
    finally:
        subprocess.run(["umount", str(serving)], check=False)


def _first_creation_in(folder: Path, seconds: float) -> str:
    """Blocks until something is created in folder (Linux inotify through libc); returns its name."""
    import ctypes
    import select
    import struct

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    descriptor = libc.inotify_init1(0)
    if descriptor < 0 or libc.inotify_add_watch(descriptor, str(folder).encode(), 0x100) < 0:  # IN_CREATE
        raise OSError(ctypes.get_errno(), "inotify is not available")
    try:
        ready, _, _ = select.select([descriptor], [], [], seconds)
        if not ready:
            raise TimeoutError(f"nothing was created in {folder} within {seconds} s")
        event = os.read(descriptor, 4096)
        length = struct.unpack_from("iIII", event)[3]
        return event[16:16 + length].rstrip(b"\0").decode()
    finally:
        os.close(descriptor)


def test_a_run_killed_while_pushing_shows_no_version_and_the_rerun_pushes_exactly_one(small_data, tmp_path):
    output = tmp_path / "out"
    serving = OutputLayout(output).serving_dir
    serving.mkdir(parents=True)
    command = cli("run", "--data", str(small_data), "--output", str(output), *RUN_OVERRIDES, *BIG_MODEL)
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    created = _first_creation_in(serving, seconds=900)
    run.send_signal(signal.SIGSTOP)  # frozen mid-copy: the push has only just created its folder
    assert created.startswith(".partial-"), created
    visible = [name for name in os.listdir(serving) if not name.startswith(".")]
    assert all((serving / name / "push_record.json").is_file() for name in visible), \
        f"a visible version without its record: {visible}"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    [killed] = lineage_runs(output)
    assert killed["states"]["Pusher"] == "RUNNING" and killed["pushed_version"] is None

    rerun = run_big_model_to_end(small_data, output)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    versions = os.listdir(serving)
    assert len(versions) == 1 and versions[0].isdigit(), f"exactly one complete version: {versions}"
    assert (serving / versions[0] / "push_record.json").is_file()
    statuses = [row["status"] for row in lineage_runs(output)]
    assert statuses[0].startswith("complete") and statuses[1] == "stopped at Pusher", statuses


def run_big_model_to_end(data: Path, output: Path) -> subprocess.CompletedProcess:
    command = cli("run", "--data", str(data), "--output", str(output), *RUN_OVERRIDES, *BIG_MODEL)
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)


# About 40 MB of weights: copying them takes long enough to be caught in the act.
BIG_MODEL = ["--set", "training.hidden_units=[3000, 3000]", "--set", "training.epochs=2"]
