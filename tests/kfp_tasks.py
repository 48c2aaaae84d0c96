"""Runs tasks of a compiled pipeline spec the way KFP's launcher starts their containers.

For a task, it builds the ExecutorInput the launcher would pass (parameters
from the spec, input artifacts from the producing tasks' executor_output.json,
output URIs under a local folder instead of object storage), substitutes it
for ``{{$}}`` in the container's args, and runs the container command in this
environment. What it cannot prove: the image itself, KFP's driver and
launcher, and object storage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXECUTOR_INPUT = "{{$}}"


class TaskRunner:
    def __init__(self, spec: dict, work_dir: Path, project_root: Path):
        self.spec = spec
        self.work_dir = work_dir
        self.project_root = project_root

    def task(self, name: str) -> dict:
        return self.spec["root"]["dag"]["tasks"][name]

    def component(self, name: str) -> dict:
        return self.spec["components"][self.task(name)["componentRef"]["name"]]

    def container(self, name: str) -> dict:
        return self.spec["deploymentSpec"]["executors"][self.component(name)["executorLabel"]]["container"]

    def output_file(self, name: str) -> Path:
        return self.work_dir / name / "executor_output.json"

    def executor_input(self, name: str) -> dict:
        task, component = self.task(name), self.component(name)
        parameters = {key: value["runtimeValue"]["constant"]
                      for key, value in task["inputs"].get("parameters", {}).items()}
        artifacts = {}
        for key, value in task["inputs"].get("artifacts", {}).items():
            source = value["taskOutputArtifact"]
            producer, output_key = source["producerTask"], source["outputArtifactKey"]
            produced = json.loads(self.output_file(producer).read_text())["artifacts"][output_key]
            # The launcher knows each artifact's type from the producer's output definition.
            definition = self.component(producer)["outputDefinitions"]["artifacts"][output_key]
            artifacts[key] = {"artifacts": [{**item, "type": definition["artifactType"]}
                                            for item in produced["artifacts"]]}
        outputs = {}
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
            outputs[key] = {"artifacts": [{
                "name": f"{name}-{key}",
                "type": definition["artifactType"],
                "uri": str(self.work_dir / name / key),
            }]}
        return {
            "inputs": {"parameterValues": parameters, "artifacts": artifacts},
            "outputs": {"artifacts": outputs, "outputFile": str(self.output_file(name))},
        }

    def command(self, name: str) -> list[str]:
        container = self.container(name)
        invocation = json.dumps(self.executor_input(name))
        args = [invocation if arg == EXECUTOR_INPUT else arg for arg in container["args"]]
        command = list(container["command"])
        if command[0] == "python":  # the image's interpreter is this environment's
            command[0] = sys.executable
        return [*command, *args]

    def run(self, name: str, timeout: int = 600) -> dict:
        """Runs the task's container command; returns its executor output (artifacts with metadata)."""
        (self.work_dir / name).mkdir(parents=True, exist_ok=True)
        result = subprocess.run(self.command(name), cwd=self.work_dir, capture_output=True, text=True,
                                timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if result.returncode != 0:
            raise AssertionError(f"task {name} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return json.loads(self.output_file(name).read_text())
