"""Runs a compiled Kubeflow pipeline spec on this machine, task by task, through its container commands.

KFP's own local mode (`kfp.local`) runs lightweight Python components only and
rejects the container tasks TFX compiles. This runner does for each task what
KFP's driver and launcher do on a cluster, with local folders in place of
object storage:

- orders the tasks of ``root.dag.tasks`` by their dependencies and runs the
  ones whose upstream tasks all succeeded (independent tasks side by side);
- builds the ExecutorInput the launcher would pass: parameters from the spec,
  input artifacts from the producing tasks' outputs, output URIs under the root;
- runs the container's command and arguments exactly as compiled, ``{{$}}``
  replaced by that ExecutorInput, with this environment's Python as the
  image's ``python``;
- merges the executor's output metadata into the output artifacts;
- skips a task whose spec enables caching when an earlier run already ran it
  with the same fingerprint, which follows KFP's cache key
  (backend/src/v2/cacheutils/cache.go in kubeflow/pipelines: input artifact
  names, parameter values, output specs without URIs, image, command and args);
- after a failure, starts nothing downstream of the failed task.

What it cannot prove: the image, KFP's driver and launcher themselves, object
storage and the cluster's ML Metadata.

Layout under the root, written by this module and read through it only::

    <root>/<run id>/run.json                         the run's tasks, states and times
    <root>/<run id>/<task>/<output key>/             each output artifact
    <root>/<run id>/<task>/executor_output.json      what the executor wrote
    <root>/<run id>/<task>/task.log                  its stdout and stderr, secrets masked
    <root>/.cache/<pipeline>/<fingerprint>.json      outputs of a completed cacheable task
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

from pipeline.kubeflow.compiled_spec import EXECUTOR_INPUT, CompiledSpec, SpecError, Task, cache_fingerprint
from pipeline.kubeflow.task_results import (
    CACHED,
    COMPLETE,
    FAILED,
    NOT_STARTED,
    ErrorTail,
    SpecRunResult,
    TaskResult,
)
from pipeline.shared.redaction import redact

RUN_RECORD = "run.json"
EXECUTOR_OUTPUT = "executor_output.json"
TASK_LOG = "task.log"
CACHE_FOLDER = ".cache"


def new_run_id(pipeline_name: str) -> str:
    return f"{pipeline_name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S-%f}"


class SpecRunner:
    """One run of a compiled spec under a local root folder."""

    def __init__(self, spec: CompiledSpec, root: Path, run_id: str | None = None, parallel: int = 2,
                 secrets: Sequence[str] = (), on_task_done: Callable[[TaskResult], None] = lambda r: None,
                 on_task_start: Callable[[str], None] = lambda name: None):
        self.spec, self.root = spec, root.resolve()
        self.run_id = run_id or new_run_id(spec.pipeline_name)
        self.parallel, self.secrets = max(1, parallel), list(secrets)
        self.on_task_done, self.on_task_start = on_task_done, on_task_start
        self.results: dict[str, TaskResult] = {}
        self._processes: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._claimed = False

    @property
    def run_dir(self) -> Path:
        return self.root / self.run_id

    def claim_run_dir(self) -> None:
        """Creates the run's folder; a run id already used under this root is refused."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.run_dir.mkdir()
        except FileExistsError:
            raise SpecError(f"{self.run_dir} exists: run ids are not reused") from None
        self._claimed = True

    def run(self) -> SpecRunResult:
        if not self._claimed:
            self.claim_run_dir()
        order = self.spec.order()
        blocked: set[str] = set()
        running: dict[Future, str] = {}
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            try:
                while len(self.results) + len(blocked) < len(order) or running:
                    for name in self._ready(order, blocked, running.values()):
                        if len(running) >= self.parallel:
                            break
                        self.on_task_start(name)
                        running[pool.submit(self._run_task, self.spec.tasks[name])] = name
                    if not running:  # nothing left that can start
                        break
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        result = future.result()
                        del running[future]
                        self.results[result.name] = result
                        if result.state == FAILED:
                            blocked |= self.spec.downstream(result.name)
                        self.on_task_done(result)
                        self._write_record()
            except BaseException:  # Ctrl-C or SIGTERM: no task outlives the run
                self.stop_tasks()
                raise
        for name in order:
            self.results.setdefault(name, TaskResult(name, NOT_STARTED))
        self.results = {name: self.results[name] for name in order}
        self._write_record()
        return SpecRunResult(self.run_id, self.spec.pipeline_name, self.root, self.results)

    def _ready(self, order, blocked, running_names) -> list[str]:
        busy = set(running_names)
        return [name for name in order
                if name not in self.results and name not in blocked and name not in busy
                and all(self.results.get(up, TaskResult(up, "")).state in (COMPLETE, CACHED)
                        for up in self.spec.tasks[name].upstream)]

    def stop_tasks(self) -> None:
        """Ends every running task's process group (on Ctrl-C or SIGTERM)."""
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)

    # --- one task -------------------------------------------------------------

    def _run_task(self, task: Task) -> TaskResult:
        started = time.perf_counter()
        try:
            return self._run_or_reuse(task, started)
        except OSError as error:  # the command cannot start, an output cannot be written
            return TaskResult(task.name, FAILED, time.perf_counter() - started,
                              error=f"{type(error).__name__}: {error}")

    def _run_or_reuse(self, task: Task, started: float) -> TaskResult:
        executor_input = self.executor_input(task)
        fingerprint = cache_fingerprint(task, executor_input) if task.cache_enabled else None
        cached = self._cached(fingerprint)
        if cached is not None:
            return TaskResult(task.name, CACHED, time.perf_counter() - started, fingerprint=fingerprint,
                              cached_from=cached["run_id"], executor_input=executor_input,
                              outputs=cached["outputs"])
        task_dir = self.run_dir / task.name
        task_dir.mkdir(parents=True, exist_ok=True)
        returncode, error = self._execute(task, executor_input, task_dir)
        seconds = time.perf_counter() - started
        if returncode != 0:
            return TaskResult(task.name, FAILED, seconds, error=error, fingerprint=fingerprint,
                              executor_input=executor_input)
        outputs = self._outputs(task, executor_input, task_dir / EXECUTOR_OUTPUT)
        if fingerprint is not None:
            self._remember(fingerprint, task.name, outputs)
        return TaskResult(task.name, COMPLETE, seconds, fingerprint=fingerprint,
                          executor_input=executor_input, outputs=outputs)

    def executor_input(self, task: Task) -> dict:
        """The ExecutorInput KFP's launcher would hand this task, with outputs under the run folder."""
        parameters = {key: value["runtimeValue"]["constant"]
                      for key, value in task.inputs.get("parameters", {}).items()}
        artifacts = {}
        for key, value in task.inputs.get("artifacts", {}).items():
            source = value["taskOutputArtifact"]
            produced = self.results[source["producerTask"]].outputs.get(source["outputArtifactKey"], [])
            artifacts[key] = {"artifacts": produced}
        outputs = {}
        for key, definition in task.component.get("outputDefinitions", {}).get("artifacts", {}).items():
            outputs[key] = {"artifacts": [{
                "name": f"{self.run_id}/{task.name}/{key}",
                "type": definition["artifactType"],
                "uri": str(self.run_dir / task.name / key),
                "metadata": {},
            }]}
        output_file = str(self.run_dir / task.name / EXECUTOR_OUTPUT)
        return {"inputs": {"parameterValues": parameters, "artifacts": artifacts},
                "outputs": {"artifacts": outputs, "outputFile": output_file}}

    def command(self, task: Task, executor_input: dict) -> list[str]:
        """The container's command and arguments as compiled, with the ExecutorInput substituted."""
        invocation = json.dumps(executor_input)
        args = [invocation if arg == EXECUTOR_INPUT else arg for arg in task.container.get("args", [])]
        command = list(task.container["command"])
        # The image's interpreter is this environment's (same packages, same lock).
        if command[0] in ("python", "python3"):
            command[0] = sys.executable
        return [*command, *args]

    def _execute(self, task: Task, executor_input: dict, task_dir: Path) -> tuple[int, str | None]:
        env = {**os.environ, **{item["name"]: item["value"] for item in task.container.get("env", [])}}
        process = subprocess.Popen(self.command(task, executor_input), cwd=task_dir, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        with self._lock:
            self._processes[task.name] = process
        error = ErrorTail()
        try:
            with open(task_dir / TASK_LOG, "w", encoding="utf-8") as log:
                for raw in process.stdout:
                    line = redact(raw.decode("utf-8", "replace").rstrip("\n"), self.secrets)
                    log.write(line + "\n")
                    error.add(line)
            returncode = process.wait()
        finally:
            with self._lock:
                self._processes.pop(task.name, None)
        if returncode == 0:
            return 0, None
        reason = error.text() or f"exited with code {returncode}"
        if returncode < 0:
            reason = f"stopped by signal {signal.Signals(-returncode).name}"
        return returncode, f"{reason} (log: {task_dir / TASK_LOG})"

    @staticmethod
    def _outputs(task: Task, executor_input: dict, output_file: Path) -> dict[str, list[dict]]:
        """The task's output artifacts: URIs as assigned, metadata as the executor reported it."""
        reported = {}
        if output_file.is_file():
            reported = json.loads(output_file.read_text(encoding="utf-8")).get("artifacts", {})
        outputs = {}
        for key, value in executor_input["outputs"]["artifacts"].items():
            assigned = value["artifacts"][0]
            items = reported.get(key, {}).get("artifacts") or [{}]
            outputs[key] = [{**assigned, "uri": item.get("uri") or assigned["uri"],
                             "metadata": {**assigned["metadata"], **item.get("metadata", {})}}
                            for item in items]
        return outputs

    # --- cache ----------------------------------------------------------------

    def _cache_file(self, fingerprint: str) -> Path:
        return self.root / CACHE_FOLDER / self.spec.pipeline_name / f"{fingerprint}.json"

    def _cached(self, fingerprint: str | None) -> dict | None:
        """An earlier run's outputs for this fingerprint, if every artifact is still on disk."""
        if fingerprint is None or not self._cache_file(fingerprint).is_file():
            return None
        entry = json.loads(self._cache_file(fingerprint).read_text(encoding="utf-8"))
        uris = [item["uri"] for items in entry["outputs"].values() for item in items]
        return entry if all(Path(uri).exists() for uri in uris) else None

    def _remember(self, fingerprint: str, task: str, outputs: dict) -> None:
        path = self._cache_file(fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"run_id": self.run_id, "task": task, "outputs": outputs}, indent=1),
                           encoding="utf-8")
        os.replace(partial, path)

    def _write_record(self) -> None:
        record = SpecRunResult(self.run_id, self.spec.pipeline_name, self.root, self.results).summary()
        partial = self.run_dir / (RUN_RECORD + ".partial")
        partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(partial, self.run_dir / RUN_RECORD)
