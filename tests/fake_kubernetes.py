"""A stand-in for the Kubernetes API server's TFJob endpoints (kubeflow.org/v1), on loopback.

It checks each TFJob it is given against what the Training Operator's CRD and
controller require (names, replica types, the container named "tensorflow"),
refusing a bad one with 422 as the API server would, and reports scripted
states: every GET of a job moves it one condition further along `states`.
It proves the shape of what this project sends and how it reads the job's
status, not that a cluster would train.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.fake_kfp import LoopbackServer, Request

PREFIX = "/apis/kubeflow.org/v1/namespaces/"
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
REPLICA_TYPES = {"Chief", "Worker", "PS", "Evaluator"}


@dataclass
class FakeKubernetes:
    states: list[str] = field(default_factory=lambda: ["Created", "Running", "Succeeded"])
    failure_message: str = "TFJob taxi is failed because 1 Worker replica(s) failed."
    refuse_create: int | None = None  # an HTTP status to answer every create with
    requests: list[Request] = field(default_factory=list)
    jobs: dict[str, dict] = field(default_factory=dict)
    gets: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    polls: int = 0  # GETs of any job: an int another thread can read while the server adds keys to gets

    def handle(self, request: Request) -> tuple[int, dict]:
        self.requests.append(request)
        if not request.path.startswith(PREFIX):
            return 404, {"kind": "Status", "message": f"no route {request.path}"}
        parts = request.path.removeprefix(PREFIX).split("/")
        namespace, rest = parts[0], parts[1:]
        if rest[:1] != ["tfjobs"]:
            return 404, {"kind": "Status", "message": f"no resource {rest}"}
        if request.method == "POST" and len(rest) == 1:
            return self._create(namespace, request.json())
        name = rest[1] if len(rest) > 1 else None
        if name not in self.jobs:
            return 404, {"kind": "Status", "reason": "NotFound", "message": f'tfjobs "{name}" not found'}
        if request.method == "GET":
            return 200, self._advance(name)
        if request.method == "DELETE":
            self.deleted.append(name)
            del self.jobs[name]
            return 200, {"kind": "Status", "status": "Success"}
        return 405, {"kind": "Status", "message": request.method}

    def _create(self, namespace: str, job: dict) -> tuple[int, dict]:
        if self.refuse_create:
            return self.refuse_create, {"kind": "Status", "reason": "Forbidden",
                                        "message": 'tfjobs.kubeflow.org is forbidden: User '
                                                   '"system:serviceaccount:kubeflow:pipeline-runner" '
                                                   'cannot create resource "tfjobs"'}
        problem = manifest_problem(namespace, job)
        if problem:
            return 422, {"kind": "Status", "reason": "Invalid", "message": problem}
        name = job["metadata"]["name"]
        if name in self.jobs:
            return 409, {"kind": "Status", "reason": "AlreadyExists", "message": f'tfjobs "{name}" exists'}
        self.jobs[name], self.gets[name] = job, 0
        return 201, job

    def _advance(self, name: str) -> dict:
        reached = min(self.gets[name], len(self.states) - 1)
        self.gets[name] += 1
        self.polls += 1
        conditions = [{"type": state, "status": "True" if i == reached else "False",
                       "reason": f"TFJob{state}",
                       "message": self.failure_message if state == "Failed" else f"TFJob is {state}."}
                      for i, state in enumerate(self.states[:reached + 1])]
        return {**self.jobs[name], "status": {"conditions": conditions}}


def manifest_problem(namespace: str, job: dict) -> str | None:
    """What the API server or the operator would refuse in this TFJob, or None."""
    if job.get("apiVersion") != "kubeflow.org/v1" or job.get("kind") != "TFJob":
        return f"not a kubeflow.org/v1 TFJob: {job.get('apiVersion')} {job.get('kind')}"
    name = job.get("metadata", {}).get("name", "")
    if not DNS_1123.match(name):
        return f"metadata.name {name!r}: not a DNS-1123 label"
    if job["metadata"].get("namespace", namespace) != namespace:
        return "metadata.namespace differs from the request's"
    specs = job.get("spec", {}).get("tfReplicaSpecs") or {}
    if not specs or set(specs) - REPLICA_TYPES:
        return (f"spec.tfReplicaSpecs: replica types must be among {sorted(REPLICA_TYPES)}, "
                f"got {sorted(specs)}")
    for kind, spec in specs.items():
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 1:
            return f"spec.tfReplicaSpecs.{kind}.replicas must be a positive integer"
        containers = spec.get("template", {}).get("spec", {}).get("containers") or []
        if not any(c.get("name") == "tensorflow" and c.get("image") for c in containers):
            return f"spec.tfReplicaSpecs.{kind}: no container named 'tensorflow' with an image"
    return None


class FakeKubernetesServer(LoopbackServer):
    def __init__(self, **options) -> None:
        super().__init__(FakeKubernetes(**options))
