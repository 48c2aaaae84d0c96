"""The run lock between real processes: refused with the holder's name, waited for, freed by death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from configs.settings import DEFAULT_CONFIG, load_config
from pipeline.run.lock import RunLockBusy, exclusive_run
from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.unit

HOLD = """
import sys, time
from configs.settings import load_config
from pipeline.run.lock import exclusive_run
config = load_config(None, ["paths.output=" + sys.argv[1]], check_paths=False)
with exclusive_run(config, "python -m pipeline run"):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    open(sys.argv[1] + "/releasing", "w").close()
"""


def hold(output, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(output), str(seconds)], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    return process


def config_for(output):
    return load_config(DEFAULT_CONFIG, check_paths=False, values={"paths.output": output})


def test_a_held_lock_is_refused_with_the_holders_pid(tmp_path):
    holder = hold(tmp_path, 60)
    try:
        with pytest.raises(RunLockBusy) as caught, exclusive_run(config_for(tmp_path), "test"):
            pass
        assert f"pid {holder.pid} on " in str(caught.value)
        assert "(python -m pipeline run)" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()


def test_waiting_gets_the_lock_when_the_holder_finishes(tmp_path):
    holder = hold(tmp_path, 2)
    messages = []
    with exclusive_run(config_for(tmp_path), "test", wait_seconds=120, on_wait=messages.append):
        assert (tmp_path / "releasing").exists(), "the lock was taken while the holder still held it"
    assert len(messages) == 1 and f"pid {holder.pid}" in messages[0]


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    holder = hold(tmp_path, 600)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with exclusive_run(config_for(tmp_path), "test"):  # no wait: RunLockBusy would fail the test
        holder_now = json.loads((tmp_path / "run.lock").read_text())
    assert holder_now["pid"] == os.getpid()


def test_the_command_exits_3_and_read_only_commands_ignore_the_lock(tmp_path, taxi_sample_dir):
    holder = hold(tmp_path, 120)
    try:
        run = subprocess.run(cli("run", "--data", str(taxi_sample_dir), "--output", str(tmp_path)),
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 3, run.stdout + run.stderr
        assert f"another run is using the output folder {tmp_path}: pid {holder.pid}" in run.stdout
        command = cli("run", "--data", str(taxi_sample_dir), "--output", str(tmp_path), "--wait", "1")
        waited = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert waited.returncode == 3 and "waiting for the output folder" in waited.stdout
        models = subprocess.run(cli("models", "--store", str(tmp_path / "none.sqlite")), cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=120)
        assert models.returncode == 2 and "no metadata store at" in models.stdout
        assert "another run" not in models.stdout
    finally:
        holder.kill()
        holder.wait()
