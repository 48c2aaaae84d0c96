"""Training on two worker processes (MultiWorkerMirroredStrategy), with real processes and signals.

On the Transform outputs of the shared pipeline run (3,000 taxi rows), through
trainer.standalone, which trains as the Trainer's run_fn does: the launcher
of trainer/workers.py starting real trainer.worker processes on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import PROJECT_ROOT, sigint_as_in_a_terminal
from tests.trainer.test_trainer import NO_EARLY_STOP, harness
from trainer.workers import SCRATCH_PREFIX

pytestmark = pytest.mark.e2e
TWO_WORKERS = ["--set", "training.workers=2"]
# Long enough to be killed mid-way, short enough to resume within a minute.
FAULT_RUN = [*TWO_WORKERS, "--set", "training.epochs=6", *NO_EARLY_STOP]


@pytest.fixture(scope="module")
def pipeline_root(pipeline_runs):
    return pipeline_runs[0] / "pipeline_root"


@pytest.fixture(scope="module")
def trained(pipeline_root, tmp_path_factory):
    """One and two workers on the same data, seed and epochs.

    Whether they learn the same model is checked on the whole taxi CSV, where
    training converges (tests/pipeline/run/test_multi_worker_run.py); 2,000
    rows and 3 epochs are too few for that.
    """
    runs = {}
    for workers in (1, 2):
        work = tmp_path_factory.mktemp(f"workers_{workers}")
        runs[workers] = harness(pipeline_root, work, "--set", f"training.workers={workers}",
                                "--set", "training.epochs=3", *NO_EARLY_STOP)
        assert "record" in runs[workers], runs[workers]
    return runs


def test_two_workers_train_under_multi_worker_mirrored_strategy(trained):
    record = trained[2]["record"]
    assert record["strategy"] == "multi-worker-mirrored" and record["workers"] == 2
    assert record["replicas"] == 2 and record["global_batch_size"] == 2 * record["batch_size_per_replica"]
    assert record["devices"] == ["/job:worker/task:0/device:CPU:0", "/job:worker/task:1/device:CPU:0"]
    losses = record["history"]["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0] * 0.8
    assert trained[1]["record"]["workers"] == 1 and trained[1]["record"]["strategy"] == "default"


def test_only_the_chief_writes_and_the_serving_signature_is_unchanged(trained):
    import tensorflow as tf

    work = Path(trained[2]["model_run_dir"]).parent
    assert sorted(p.name for p in work.iterdir()) == ["backups", "model_run", "serving_model"]
    assert {p.name for p in Path(trained[2]["model_run_dir"]).iterdir()} >= {"training_record.json",
                                                                              "model.keras", "train"}
    assert not list(work.rglob("workertemp*")), "a worker's temporary folder was left behind"
    signatures = {}
    for workers in (1, 2):
        served = tf.saved_model.load(trained[workers]["serving_model_dir"])
        signatures[workers] = {name: (fn.structured_input_signature, fn.structured_outputs)
                               for name, fn in served.signatures.items()}
    from trainer.export import COLUMNS_SIGNATURE, SERVING_SIGNATURE, TRANSFORM_SIGNATURE

    assert signatures[1] == signatures[2]
    assert set(signatures[2]) == {SERVING_SIGNATURE, COLUMNS_SIGNATURE, TRANSFORM_SIGNATURE}


def start_training(pipeline_root, work: Path, *arguments: str) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(work / "tmp")}
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "trainer.standalone", str(pipeline_root), str(work),
                             *arguments], cwd=PROJECT_ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            preexec_fn=sigint_as_in_a_terminal)


def workers_of(launcher: subprocess.Popen, count: int = 2) -> dict[int, psutil.Process]:
    """The launcher's worker processes by index, once all of them run."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = {}
        for child in psutil.Process(launcher.pid).children(recursive=True):
            try:
                if "trainer.worker" in " ".join(child.cmdline()):
                    found[json.loads(child.environ()["TF_CONFIG"])["task"]["index"]] = child
            except (psutil.NoSuchProcess, KeyError):
                continue
        if len(found) == count:
            return found
        assert launcher.poll() is None, "the launcher ended before its workers started"
        time.sleep(0.2)
    raise AssertionError("the workers did not start")


def ports_of(workers: dict[int, psutil.Process]) -> list[int]:
    config = json.loads(workers[0].environ()["TF_CONFIG"])
    return [int(address.rsplit(":", 1)[1]) for address in config["cluster"]["worker"]]


def wait_for_first_backup(work: Path, launcher: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while not list((work / "backups").rglob("checkpoint")):
        assert launcher.poll() is None, "training ended before its first backup"
        assert time.monotonic() < deadline, "no backup after 180 s"
        time.sleep(0.1)


def assert_nothing_left(workers: dict[int, psutil.Process], ports: list[int]) -> None:
    gone, alive = psutil.wait_procs(list(workers.values()), timeout=15)
    assert not alive, f"workers outlived the launcher: {[p.pid for p in alive]}"
    for port in ports:
        # Listening, not TIME_WAIT (which the killed workers' connections leave, and gRPC's
        # SO_REUSEADDR ignores): binding and listening raise if a worker's server is still open.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("0.0.0.0", port))
            probe.listen()


def outcome_of(launcher: subprocess.Popen) -> dict:
    stdout, _ = launcher.communicate(timeout=120)
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("victim", [1, 0], ids=["worker", "chief"])
def test_a_killed_worker_fails_training_in_one_line_and_a_rerun_resumes(pipeline_root, tmp_path, victim):
    launcher = start_training(pipeline_root, tmp_path, *FAULT_RUN)
    workers = workers_of(launcher)
    ports = ports_of(workers)
    wait_for_first_backup(tmp_path, launcher)
    workers[victim].send_signal(signal.SIGKILL)
    outcome = outcome_of(launcher)  # bounded: a hang fails here
    assert outcome["error"] == "WorkerLost", outcome
    role = "chief, " if victim == 0 else ""
    assert outcome["message"].startswith(f"training worker {victim} of 2 ({role}pid {workers[victim].pid}, "
                                         f"127.0.0.1:{ports[victim]}) was killed by SIGKILL")
    assert "\n" not in outcome["message"]
    assert_nothing_left(workers, ports)
    assert not list((tmp_path / "tmp").glob(SCRATCH_PREFIX + "*")), "the workers' scratch folder was left"
    assert not (tmp_path / "serving_model").exists()

    resumed = harness(pipeline_root, tmp_path, *FAULT_RUN)["record"]
    assert resumed["resumed_from_backup"] is True and resumed["first_epoch"] >= 1
    assert resumed["workers"] == 2 and resumed["first_epoch"] + resumed["epochs_run"] == 6


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_no_worker_and_no_port_outlives_a_stopped_launcher(pipeline_root, tmp_path, how):
    launcher = start_training(pipeline_root, tmp_path, *FAULT_RUN)
    workers = workers_of(launcher)
    ports = ports_of(workers)
    launcher.send_signal(how)
    launcher.communicate(timeout=60)
    assert launcher.returncode != 0
    assert_nothing_left(workers, ports)
    if how != signal.SIGKILL:  # SIGKILL leaves the launcher no chance to tidy its temporary folder
        assert not list((tmp_path / "tmp").glob(SCRATCH_PREFIX + "*"))
