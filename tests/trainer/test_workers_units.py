"""The worker launcher's checks and messages (trainer/workers.py, trainer/worker.py), without training."""

from __future__ import annotations

import json
import socket

import pytest

from trainer.worker import WorkerRole
from trainer.workers import (
    WORKER_ERROR_PREFIX,
    WorkerConfigError,
    check_local_workers,
    choose_ports,
    lost_worker_message,
    max_local_workers,
    tf_config,
)

pytestmark = pytest.mark.unit
GIB = 2**30


def test_tf_config_names_every_worker_on_loopback_and_this_ones_index():
    config = json.loads(tf_config([4000, 4001, 4002], 2))
    assert config == {"cluster": {"worker": ["127.0.0.1:4000", "127.0.0.1:4001", "127.0.0.1:4002"]},
                      "task": {"type": "worker", "index": 2}}
    role = WorkerRole.from_tf_config(tf_config([4000, 4001], 0))
    assert role.is_chief and role.count == 2
    assert not WorkerRole.from_tf_config(tf_config([4000, 4001], 1)).is_chief


def test_a_tf_config_with_a_chief_or_parameter_servers_is_refused():
    with pytest.raises(ValueError, match="only 'worker' tasks"):
        WorkerRole.from_tf_config(json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]},
                                              "task": {"type": "worker", "index": 0}}))


def test_the_machine_limit_is_the_lesser_of_cores_and_memory():
    assert max_local_workers(cores=2, available_bytes=24 * GIB) == 8
    assert max_local_workers(cores=16, available_bytes=6 * GIB) == 4
    assert max_local_workers(cores=1, available_bytes=GIB) == 1


def test_more_workers_than_the_machine_holds_is_refused_with_the_numbers():
    with pytest.raises(WorkerConfigError, match=r"training.workers=10000: this machine holds at most \d+ "
                                                r"training workers \(\d+ cores, [\d.]+ GiB available"):
        check_local_workers(10000, 0)


def test_a_fixed_port_in_use_is_refused_naming_the_port():
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = (rf"training.worker_port={port - 1}: port {port} is in use "
                    rf"\(the workers use {port - 1}..{port}\)")
        with pytest.raises(WorkerConfigError, match=expected):
            check_local_workers(2, port - 1)
    check_local_workers(1, port)  # one worker trains in-process: no ports at all


def test_ports_run_up_from_worker_port_or_are_distinct_free_ones():
    assert choose_ports(3, 5000) == [5000, 5001, 5002]
    free = choose_ports(4, 0)
    assert len(set(free)) == 4 and all(port > 0 for port in free)
    with pytest.raises(WorkerConfigError, match="above 65535"):
        check_local_workers(2, 65535)


def test_a_lost_worker_is_one_line_with_its_role_pid_address_and_cause(tmp_path):
    log = tmp_path / "worker-1.log"
    log.write_text("noise\n" + WORKER_ERROR_PREFIX
                   + json.dumps({"type": "TrainingDivergedError", "message": "loss is nan"}) + "\ntrailer\n")
    failed = lost_worker_message(1, 2, 4242, 5001, 1, str(log))
    assert failed.startswith("training worker 1 of 2 (pid 4242, 127.0.0.1:5001) failed: "
                             "TrainingDivergedError: loss is nan; the other workers were stopped")
    killed = lost_worker_message(0, 2, 4241, 5000, -9, str(tmp_path / "absent.log"))
    assert killed.startswith("training worker 0 of 2 (chief, pid 4241, 127.0.0.1:5000) was killed by SIGKILL")
    assert "resumes from the last epoch's backup" in killed
    assert "exit code 3" in lost_worker_message(1, 2, 1, 1, 3, str(tmp_path / "absent.log"))
    assert "\n" not in failed + killed
