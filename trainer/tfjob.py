"""Multi-worker training on Kubernetes: the Trainer task creates a TFJob and waits for it.

On Kubeflow, with training.workers: N >= 2, the Trainer's pod does not train.
It creates a TFJob (kubeflow.org/v1, the Kubeflow Training Operator) with N
worker replicas that run the pipeline's own image and the same entry point as
local workers (`python -m trainer.worker`), then waits. The operator sets
TF_CONFIG in each replica's container named "tensorflow"; worker 0 is the
chief and writes the model to the pipeline root, where the Trainer's
executor then finds it. The task fails when the TFJob fails, with the
operator's reason, and a cancelled task deletes its TFJob.

restartPolicy Never and backoffLimit 0: a lost replica fails the job at once
instead of restarting one worker alone, which MultiWorkerMirroredStrategy
cannot take; a retry of the task resumes from the backup in kubeflow.state_dir.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from trainer.workers import LEGACY_KERAS_ENV, WorkerSpec

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "tfjobs"
# The operator sets TF_CONFIG only in the container with this name.
CONTAINER_NAME = "tensorflow"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_POLL_SECONDS = 10.0


class TFJobFailed(RuntimeError):
    """The TFJob ended in Failed, or could not be created or read."""


def job_name(spec: WorkerSpec) -> str:
    """One name per Trainer execution (its output folder), valid as a Kubernetes name."""
    return "taxi-tfx-trainer-" + hashlib.sha256(spec.model_run_dir.encode()).hexdigest()[:12]


def tfjob_manifest(name: str, namespace: str, image: str, workers: int, spec: WorkerSpec,
                   gpus_per_worker: int = 0) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "command": ["python", "-m", "trainer.worker", "--spec-json", spec.to_json()],
        "env": [{"name": LEGACY_KERAS_ENV, "value": "1"}, {"name": "TF_USE_LEGACY_KERAS", "value": "1"}],
    }
    if gpus_per_worker:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus_per_worker}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TFJob",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/part-of": "taxi-tfx"}},
        "spec": {
            "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 0},
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": workers,
                    "restartPolicy": "Never",
                    "template": {"spec": {"containers": [container]}},
                },
            },
        },
    }


def run_tfjob(spec: WorkerSpec, workers: int, launcher: dict[str, Any]) -> None:
    """Creates the TFJob and returns when it succeeded; raises TFJobFailed when it failed."""
    api = custom_objects_api(launcher.get("kubernetes_api"))
    namespace = launcher.get("namespace") or pod_namespace()
    name = job_name(spec)
    manifest = tfjob_manifest(name, namespace, launcher["image"], workers, spec,
                              int(launcher.get("gpus_per_worker") or 0))
    from kubernetes.client.exceptions import ApiException

    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    except ApiException as error:
        raise TFJobFailed(f"could not create TFJob {namespace}/{name}: HTTP {error.status} {error.reason}: "
                          f"{(error.body or '').strip()[:300]}") from None
    log.info("Created TFJob %s/%s with %d workers (image %s)", namespace, name, workers, launcher["image"])
    try:
        wait_for_tfjob(api, namespace, name, float(launcher.get("poll_seconds", DEFAULT_POLL_SECONDS)))
    except (KeyboardInterrupt, SystemExit, Exception) as error:
        if not isinstance(error, TFJobFailed):
            # Cancelled or broken while waiting: the job must not train on unwatched.
            delete_tfjob(api, namespace, name)
        raise


def wait_for_tfjob(api: Any, namespace: str, name: str, poll_seconds: float) -> None:
    last = None
    while True:
        job = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        condition = current_condition(job)
        if condition and condition["type"] != last:
            last = condition["type"]
            log.info("TFJob %s/%s: %s", namespace, name, last)
        if condition and condition["type"] == "Succeeded":
            return
        if condition and condition["type"] == "Failed":
            raise TFJobFailed(f"TFJob {namespace}/{name} failed: {condition.get('reason', '?')}: "
                              f"{condition.get('message', '')}; `kubectl -n {namespace} logs -l "
                              f"training.kubeflow.org/job-name={name}` shows the workers' logs")
        time.sleep(poll_seconds)


def current_condition(job: dict[str, Any]) -> dict[str, Any] | None:
    """The newest condition whose status is True (Created, Running, Restarting, Succeeded, Failed)."""
    true = [c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    return true[-1] if true else None


def delete_tfjob(api: Any, namespace: str, name: str) -> None:
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        log.info("Deleted TFJob %s/%s", namespace, name)
    except Exception as error:  # the original error matters more
        log.warning("could not delete TFJob %s/%s: %s", namespace, name, error)


def pod_namespace() -> str:
    with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as reader:
        return reader.read().strip()


def custom_objects_api(host: str | None):
    """The Kubernetes API: in-cluster (the pod's service account) unless a host is given."""
    from kubernetes import client, config

    if host:
        configuration = client.Configuration()
        configuration.host = host
        return client.CustomObjectsApi(client.ApiClient(configuration))
    config.load_incluster_config()
    return client.CustomObjectsApi()
