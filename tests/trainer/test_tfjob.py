"""The Trainer's TFJob launcher (trainer/tfjob.py) against a fake Kubernetes API on loopback.

The real kubernetes client sends the requests; the fake checks the manifest
as the API server and the Training Operator would, and plays the job's states.
"""

from __future__ import annotations

import _thread
import json
import signal
import threading
import time

import pytest

from tests.fake_kubernetes import FakeKubernetesServer
from trainer.tfjob import TFJobFailed, job_name, run_tfjob
from trainer.workers import LEGACY_KERAS_ENV, WorkerSpec

pytestmark = pytest.mark.unit
IMAGE = "registry.example.com/taxi-tfx@sha256:" + "ab" * 32


def worker_spec() -> WorkerSpec:
    return WorkerSpec(
        train_files=["gs://bucket/root/Transform/transformed_examples/5/Split-train/*"],
        eval_files=["gs://bucket/root/Transform/transformed_examples/5/Split-eval/*"],
        transform_graph="gs://bucket/root/Transform/transform_graph/5",
        serving_model_dir="gs://bucket/root/Trainer/model/6/Format-Serving",
        model_run_dir="gs://bucket/root/Trainer/model_run/6",
        custom_config={"training": {"workers": 3, "seed": 42}, "backup_root": "gs://bucket/state/backups"},
        hyperparameters=None,
    )


def launch(server, workers: int = 3, **launcher) -> None:
    run_tfjob(worker_spec(), workers, {"kind": "tfjob", "image": IMAGE, "namespace": "team-a",
                                       "kubernetes_api": server.host, "poll_seconds": 0.01, **launcher})


def test_the_trainer_creates_one_tfjob_of_n_workers_running_the_image_and_waits_until_it_succeeds():
    with FakeKubernetesServer() as server:
        launch(server, workers=3)
    fake = server.fake
    creates = [r for r in fake.requests if r.method == "POST"]
    assert len(creates) == 1 and creates[0].path == "/apis/kubeflow.org/v1/namespaces/team-a/tfjobs"
    job = creates[0].json()
    assert job["metadata"]["name"] == job_name(worker_spec())
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert list(job["spec"]["tfReplicaSpecs"]) == ["Worker"] and worker["replicas"] == 3
    assert worker["restartPolicy"] == "Never" and job["spec"]["runPolicy"]["backoffLimit"] == 0
    (container,) = worker["template"]["spec"]["containers"]
    assert container["name"] == "tensorflow" and container["image"] == IMAGE
    assert container["command"][:4] == ["python", "-m", "trainer.worker", "--spec-json"]
    assert WorkerSpec.from_json(container["command"][4]) == worker_spec()
    assert {"name": LEGACY_KERAS_ENV, "value": "1"} in container["env"]
    assert "resources" not in container  # CPU only unless GPUs are asked for
    # It polled until Succeeded, and left the finished job for its logs.
    assert fake.gets[job["metadata"]["name"]] == 3 and fake.deleted == []


def test_a_failed_tfjob_fails_the_task_with_the_operators_reason():
    with FakeKubernetesServer(states=["Created", "Running", "Failed"]) as server, \
            pytest.raises(TFJobFailed) as failure:
        launch(server)
    message = str(failure.value)
    assert f"team-a/{job_name(worker_spec())} failed: TFJobFailed" in message
    assert "1 Worker replica(s) failed" in message and "kubectl -n team-a logs" in message
    assert "\n" not in message


def test_a_refused_create_names_the_status_and_the_reason():
    refused = r"could not create TFJob team-a/\S+: HTTP 403 .*cannot create resource \\?\"tfjobs"
    with FakeKubernetesServer(refuse_create=403) as server, pytest.raises(TFJobFailed, match=refused):
        launch(server)


@pytest.fixture
def python_sigint():
    """Python's SIGINT handler for one test: interrupt_main does nothing where SIGINT is ignored
    (`make test &`, nohup), and the wait below would never end."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_task_stopped_while_waiting_deletes_its_tfjob(python_sigint):
    """Ctrl-C (KeyboardInterrupt in the main thread, as KFP's SIGTERM handler would raise) mid-wait."""
    with FakeKubernetesServer(states=["Created", "Running"]) as server:
        def interrupt_once_running():
            try:
                while server.fake.polls < 2:
                    time.sleep(0.01)
            finally:  # never leave the main thread polling for ever
                _thread.interrupt_main()

        threading.Thread(target=interrupt_once_running, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            launch(server)
    assert server.fake.deleted == [job_name(worker_spec())] and server.fake.jobs == {}


def test_the_fake_refuses_what_the_api_server_would(tmp_path):
    from tests.fake_kubernetes import manifest_problem
    from trainer.tfjob import tfjob_manifest

    good = tfjob_manifest("taxi-tfx-trainer-1", "team-a", IMAGE, 2, worker_spec())
    assert manifest_problem("team-a", good) is None
    renamed = json.loads(json.dumps(good))
    renamed["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "trainer"
    assert "no container named 'tensorflow'" in manifest_problem("team-a", renamed)
    gpus = tfjob_manifest("taxi-tfx-trainer-1", "team-a", IMAGE, 2, worker_spec(), gpus_per_worker=8)
    (container,) = gpus["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 8}}
    assert "DNS-1123" in manifest_problem("team-a", {**good, "metadata": {"name": "Taxi_Trainer"}})
