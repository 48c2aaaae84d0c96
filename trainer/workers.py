"""Multi-worker training on this machine: starts, watches and always stops the worker processes.

With training.workers: N >= 2 the Trainer (trainer.run.run_fn) trains on N
fresh processes of trainer.worker on loopback, worker 0 the chief, under
MultiWorkerMirroredStrategy. Fresh processes because collective ops must be
configured before TensorFlow runs anything, and the Trainer's process has run
Transform already.

The launcher, not TensorFlow, is what notices a lost worker: a peer of a dead
worker may wait in a collective op (TF's own tests say the rest "may still
hang"). As soon as any worker exits with an error or by a signal, the others
are stopped and the Trainer fails with one line naming the lost worker.
Workers never outlive the launcher: they die with it (PR_SET_PDEATHSIG), and
every way out of `run_local_workers` (success, an error, Ctrl-C, SIGTERM)
stops the ones still running.

No TensorFlow here: the launcher process needs none of it, and the config
check (`check_local_workers`) runs in the pre-flight check.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Set to "1" in every worker's environment; trainer.keras_choice reads it.
LEGACY_KERAS_ENV = "TAXI_TFX_LEGACY_KERAS"
# A worker that fails prints this, then its error as JSON, as its last line.
WORKER_ERROR_PREFIX = "taxi-tfx-worker-error: "
# Measured here (/proc/PID/status, two workers on the Transform output of the
# taxi CSV): a worker's VmRSS reached about 1.1 GiB; the margin leaves room for
# the page cache and the run's own process.
WORKER_MEMORY_BYTES = int(1.5 * 2**30)
WORKERS_PER_CORE = 4
# How long a stopped worker gets to exit after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.2
# The launcher's temporary folder (the non-chief workers' outputs), in the system's temp folder.
SCRATCH_PREFIX = "taxi-tfx-workers-"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class WorkerConfigError(ValueError):
    """training.workers or training.worker_port cannot work on this machine; raised before training."""


class WorkerLost(RuntimeError):
    """A training worker exited with an error or was killed; the others were stopped."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs to train: the Trainer's inputs and outputs, as plain values."""

    train_files: list[str]
    eval_files: list[str]
    transform_graph: str
    serving_model_dir: str
    model_run_dir: str
    custom_config: dict[str, Any]
    hyperparameters: dict[str, Any] | None
    # Where non-chief workers write their throwaway model and logs (None: the system's temp).
    scratch_root: str | None = None

    @classmethod
    def from_fn_args(cls, fn_args: Any, scratch_root: str | None = None) -> WorkerSpec:
        return cls(
            train_files=list(fn_args.train_files),
            eval_files=list(fn_args.eval_files),
            transform_graph=fn_args.transform_graph_path,
            serving_model_dir=fn_args.serving_model_dir,
            model_run_dir=fn_args.model_run_dir,
            custom_config=dict(fn_args.custom_config),
            hyperparameters=getattr(fn_args, "hyperparameters", None),
            scratch_root=scratch_root,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def tf_config(ports: list[int], index: int) -> str:
    """TF_CONFIG of worker `index` in a cluster of loopback workers (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def max_local_workers(cores: int, available_bytes: int) -> int:
    """How many worker processes this machine can hold: by cores and by memory, whichever is less."""
    return max(1, min(cores * WORKERS_PER_CORE, available_bytes // WORKER_MEMORY_BYTES))


def check_local_workers(workers: int, worker_port: int) -> None:
    """Refuses, before training, a worker count the machine cannot hold and a fixed port in use."""
    if workers < 2:
        return
    import psutil

    cores, available = os.cpu_count() or 1, psutil.virtual_memory().available
    most = max_local_workers(cores, available)
    if workers > most:
        raise WorkerConfigError(
            f"training.workers={workers}: this machine holds at most {most} training workers "
            f"({cores} cores, {available / 2**30:.1f} GiB available; a worker needs about "
            f"{WORKER_MEMORY_BYTES / 2**30:.1f} GiB, and at most {WORKERS_PER_CORE} run per core)")
    if worker_port:
        if worker_port + workers - 1 > 65535:
            raise WorkerConfigError(f"training.worker_port={worker_port}: {workers} workers need ports "
                                    f"up to {worker_port + workers - 1}, above 65535")
        for port in range(worker_port, worker_port + workers):
            if not port_is_free(port):
                raise WorkerConfigError(f"training.worker_port={worker_port}: port {port} is in use "
                                        f"(the workers use {worker_port}..{worker_port + workers - 1}); "
                                        f"choose other ports, or 0 for free ones")


def port_is_free(port: int) -> bool:
    """Nothing listens on the port. Probed as gRPC binds: 0.0.0.0, whatever TF_CONFIG names, and with
    SO_REUSEADDR, so that the TIME_WAIT connections a stopped training leaves do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def choose_ports(workers: int, worker_port: int) -> list[int]:
    """The workers' ports: worker_port.. when it is set, else free ones the kernel picks."""
    if worker_port:
        return list(range(worker_port, worker_port + workers))
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                  for _ in range(workers)]
        for probe in probes:
            probe.bind(("0.0.0.0", 0))
        return [probe.getsockname()[1] for probe in probes]


def run_local_workers(spec: WorkerSpec, workers: int, worker_port: int, log_dir: str) -> None:
    """Trains on `workers` local processes; returns when all succeeded, raises WorkerLost otherwise."""
    check_local_workers(workers, worker_port)
    os.makedirs(log_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
    ports = choose_ports(workers, worker_port)
    spec_json = WorkerSpec(**{**asdict(spec), "scratch_root": scratch}).to_json()
    logs = [os.path.join(log_dir, f"worker-{index}.log") for index in range(workers)]
    try:
        with started_workers(spec_json, ports, logs) as processes:
            log.info("Training on %d workers: %s; logs in %s", workers,
                     ", ".join(f"worker {i} pid {p.pid} port {ports[i]}" for i, p in enumerate(processes)),
                     log_dir)
            wait_for_workers(processes, ports, logs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def started_workers(spec_json: str, ports: list[int], logs: list[str]) -> Iterator[list[subprocess.Popen]]:
    """The worker processes, stopped on the way out however it is taken."""
    processes: list[subprocess.Popen] = []
    try:
        for index, log_path in enumerate(logs):
            processes.append(start_worker(spec_json, tf_config(ports, index), log_path))
        yield processes
    finally:
        stop_workers(processes)


def start_worker(spec_json: str, cluster: str, log_path: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CONFIG": cluster, LEGACY_KERAS_ENV: "1", "TF_USE_LEGACY_KERAS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "trainer.worker", "--spec-json", spec_json],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
            cwd=PROJECT_ROOT,
            # Its own session: a Ctrl-C at the terminal reaches the launcher only,
            # which then stops every worker itself.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when the launcher dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def wait_for_workers(processes: list[subprocess.Popen], ports: list[int], logs: list[str]) -> None:
    while True:
        codes = [process.poll() for process in processes]
        if all(code == 0 for code in codes):
            return
        failed = [index for index, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            # A killed worker is the cause; its peers' errors are the consequence.
            index = min(failed, key=lambda i: (codes[i] >= 0, i))
            stop_workers(processes)
            raise WorkerLost(lost_worker_message(index, len(processes), processes[index].pid, ports[index],
                                                 codes[index], logs[index]))
        time.sleep(POLL_SECONDS)


def lost_worker_message(index: int, count: int, pid: int, port: int, code: int, log_path: str) -> str:
    role = "chief, " if index == 0 else ""
    if code < 0:
        cause = f"was killed by {signal.Signals(-code).name}"
    else:
        cause = f"failed: {worker_error(log_path) or f'exit code {code}'}"
    return (f"training worker {index} of {count} ({role}pid {pid}, 127.0.0.1:{port}) {cause}; "
            f"the other workers were stopped; its log: {log_path}; "
            f"a rerun resumes from the last epoch's backup")


def worker_error(log_path: str) -> str | None:
    """The error a worker reported on its last line, as 'Type: message', if it reported one."""
    try:
        with open(log_path, "rb") as reader:
            reader.seek(max(0, os.path.getsize(log_path) - 65536))
            lines = reader.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(WORKER_ERROR_PREFIX):
            error = json.loads(line[len(WORKER_ERROR_PREFIX):])
            return f"{error['type']}: {error['message']}"
    return None


def stop_workers(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to every worker still running, SIGKILL to those that outlast the grace time."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

