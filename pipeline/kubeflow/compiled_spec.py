"""A compiled Kubeflow pipeline spec as this project's spec runner reads it: its tasks and their order.

Only what TFX compiles is accepted (constant parameters, other tasks' output
artifacts, the whole-ExecutorInput placeholder); anything else is a SpecError
that names the task. `cache_fingerprint` is a task's cache key after KFP's
(backend/src/v2/cacheutils/cache.go in kubeflow/pipelines).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

EXECUTOR_INPUT = "{{$}}"
PLACEHOLDER = re.compile(r"\{\{\$[^}]*\}\}")


class SpecError(Exception):
    """The file is not a pipeline spec this runner can execute."""


@dataclass(frozen=True)
class Task:
    name: str
    component: dict
    container: dict
    inputs: dict
    upstream: frozenset[str]
    cache_enabled: bool


class CompiledSpec:
    """The tasks of a compiled pipeline spec (PipelineSpec 2.x as YAML or JSON)."""

    def __init__(self, spec: dict, source: Path):
        self.source = source
        try:
            self.pipeline_name = spec["pipelineInfo"]["name"]
            tasks = spec["root"]["dag"]["tasks"]
            components, executors = spec["components"], spec["deploymentSpec"]["executors"]
        except (KeyError, TypeError) as missing:
            raise SpecError(f"{source}: not a compiled pipeline spec (no {missing})") from None
        self.tasks = {name: self._task(name, body, components, executors) for name, body in tasks.items()}
        for task in self.tasks.values():
            unknown = task.upstream - set(self.tasks)
            if unknown:
                raise SpecError(f"{source}: task {task.name} depends on unknown tasks {sorted(unknown)}")

    @classmethod
    def load(cls, path: Path) -> CompiledSpec:
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise SpecError(f"cannot read {path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise SpecError(f"{path} is not YAML: {error}") from None
        if not isinstance(spec, dict):
            raise SpecError(f"{path}: not a compiled pipeline spec")
        return cls(spec, path)

    def _task(self, name: str, body: dict, components: dict, executors: dict) -> Task:
        try:
            component = components[body["componentRef"]["name"]]
            container = executors[component["executorLabel"]]["container"]
        except KeyError as missing:
            raise SpecError(f"{self.source}: task {name} has no component or executor {missing}") from None
        inputs = body.get("inputs", {})
        for arg in container.get("args", []):
            if arg != EXECUTOR_INPUT and (placeholder := PLACEHOLDER.search(arg)):
                raise SpecError(f"{self.source}: task {name}: placeholder {placeholder.group(0)} is not "
                                "supported (only {{$}}, the whole ExecutorInput)")
        for key, value in inputs.get("parameters", {}).items():
            if "constant" not in value.get("runtimeValue", {}):
                raise SpecError(f"{self.source}: task {name}: parameter {key} is not a constant; "
                                "only runtimeValue.constant parameters are supported")
        for key, value in inputs.get("artifacts", {}).items():
            if "taskOutputArtifact" not in value:
                raise SpecError(f"{self.source}: task {name}: input artifact {key} is not another task's "
                                "output; only taskOutputArtifact inputs are supported")
        upstream = set(body.get("dependentTasks", []))
        upstream |= {value["taskOutputArtifact"]["producerTask"]
                     for value in inputs.get("artifacts", {}).values() if "taskOutputArtifact" in value}
        return Task(name=name, component=component, container=container, inputs=inputs,
                    upstream=frozenset(upstream),
                    cache_enabled=bool(body.get("cachingOptions", {}).get("enableCache", False)))

    def order(self) -> list[str]:
        """Task names so that every task comes after its upstream tasks (ties by name)."""
        done: list[str] = []
        waiting = dict(self.tasks)
        while waiting:
            ready = sorted(name for name, task in waiting.items() if task.upstream <= set(done))
            if not ready:
                raise SpecError(f"{self.source}: the tasks {sorted(waiting)} depend on each other in a cycle")
            done.extend(ready)
            for name in ready:
                del waiting[name]
        return done

    def downstream(self, name: str) -> set[str]:
        """Every task that needs `name`, directly or through others."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            frontier = {task.name for task in self.tasks.values() if task.upstream & frontier} - found
            found |= frontier
        return found


def cache_fingerprint(task: Task, executor_input: dict) -> str:
    """A task's cache key, after KFP's: what goes in, what comes out (without URIs), what runs."""
    outputs = {key: {"name": "", "type": value["artifacts"][0]["type"],
                     "metadata": value["artifacts"][0]["metadata"]}
               for key, value in executor_input["outputs"]["artifacts"].items()}
    key = {
        "inputArtifactNames": {name: [item["name"] for item in value["artifacts"]]
                               for name, value in executor_input["inputs"]["artifacts"].items()},
        "inputParameterValues": executor_input["inputs"]["parameterValues"],
        "outputArtifactsSpec": outputs,
        "containerSpec": {"image": task.container.get("image", ""),
                          "cmdArgs": [*task.container["command"], *task.container.get("args", [])],
                          "env": task.container.get("env", [])},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
