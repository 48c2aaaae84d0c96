"""`submit` and `schedule` against a fake KFP API server on loopback.

A contract test of the request shapes: what kfp.Client, driven by this
project, sends to the v2beta1 REST API. No cluster runs anything here.
"""

from __future__ import annotations

import json
import re

import pytest

from pipeline.cli import main
from pipeline.kubeflow.submit import SubmitError, Trigger
from tests.fake_kfp import FakeKfpServer

pytestmark = pytest.mark.unit

SPEC = "pipelineInfo:\n  name: taxi-tfx\nschemaVersion: 2.1.0\n"
TOKEN = "secret-token-for-the-test"


@pytest.fixture
def package(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    with FakeKfpServer() as running:
        yield running


def run_cli(*args: str) -> int:
    return main([*args, "--config", "configs/kubeflow.yaml"])


def test_submit_uploads_the_spec_creates_the_experiment_and_starts_a_run(server, package, capsys):
    code = run_cli("submit", "--package", str(package), "--host", server.host,
                   "--pipeline-root", "gs://bucket/root", "--experiment", "nightly-taxi")
    assert code == 0, capsys.readouterr()
    fake = server.fake
    upload = fake.calls("POST", "/pipelines/upload")
    assert len(upload) == 1 and upload[0].query["name"] == ["taxi-tfx"]
    assert SPEC.encode() in upload[0].body, "the compiled YAML is the uploaded file"
    version = fake.calls("POST", "/pipelines/upload_version")
    assert len(version) == 1 and version[0].query["name"][0].startswith("taxi-tfx-")
    assert fake.calls("POST", "/experiments")[0].json()["display_name"] == "nightly-taxi"
    run = fake.calls("POST", "/runs")[0].json()
    assert run["experiment_id"] == "experiment-1"
    # version-1 is the upload's own first version, named like the pipeline; version-2 is named by the spec.
    assert run["pipeline_version_reference"] == {"pipeline_id": "pipeline-1",
                                                 "pipeline_version_id": "version-2"}
    assert run["runtime_config"]["pipeline_root"] == "gs://bucket/root"
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests
               if r.path != "/apis/v2beta1/healthz"), "the token from KFP_TOKEN authenticates every call"
    assert TOKEN not in capsys.readouterr().out


def test_submitting_the_same_spec_again_reuses_pipeline_version_and_experiment(server, package):
    for _ in range(2):
        assert run_cli("submit", "--package", str(package), "--host", server.host) == 0
    fake = server.fake
    assert len(fake.calls("POST", "/pipelines/upload")) == 1
    assert len(fake.calls("POST", "/pipelines/upload_version")) == 1
    assert len(fake.calls("POST", "/experiments")) == 1
    runs = fake.calls("POST", "/runs")
    assert len(runs) == 2
    assert runs[1].json()["runtime_config"]["pipeline_root"] == "gs://your-bucket/taxi-tfx/pipeline_root", \
        "the config's pipeline root without --pipeline-root"


def test_schedule_creates_one_cron_run_with_no_catchup_and_concurrency_one(server, package):
    assert run_cli("schedule", "--package", str(package), "--host", server.host, "--name", "nightly",
                   "--cron", "0 0 2 * * *", "--pipeline-root", "s3://bucket/root") == 0
    body = server.fake.calls("POST", "/recurringruns")[0].json()
    assert body["display_name"] == "nightly"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert int(body["max_concurrency"]) == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["runtime_config"]["pipeline_root"] == "s3://bucket/root"
    assert body["experiment_id"] == "experiment-1"
    # Its own pipeline, and no version: the server fires that pipeline's newest version.
    (pipeline,) = server.fake.pipelines.values()
    assert pipeline["display_name"] == "taxi-tfx-schedule-nightly"
    assert body["pipeline_version_reference"] == {"pipeline_id": pipeline["pipeline_id"]}
    (version,) = server.fake.versions.values()  # the upload's own first version was deleted
    assert version["display_name"].startswith("taxi-tfx-") and len(version["display_name"]) == 21
    fired = server.fake.fire(next(iter(server.fake.recurring_runs)))
    assert fired["pipeline_version_reference"]["pipeline_version_id"] == version["pipeline_version_id"]


def test_scheduling_a_name_again_fails_unless_replaced(server, package, capsys):
    args = ("schedule", "--package", str(package), "--host", server.host, "--name", "nightly")
    assert run_cli(*args, "--every", "6h") == 0
    capsys.readouterr()
    assert run_cli(*args, "--every", "12h") == 1
    assert "already has a recurring run named 'nightly'" in capsys.readouterr().out
    assert len(server.fake.recurring_runs) == 1
    assert run_cli(*args, "--every", "12h", "--replace") == 0
    deleted = [r.path for r in server.fake.requests if r.method == "DELETE" and "/recurringruns/" in r.path]
    assert len(deleted) == 1 and deleted[0].startswith("/apis/v2beta1/recurringruns/recurring-")
    (remaining,) = server.fake.recurring_runs.values()
    assert int(remaining["trigger"]["periodic_schedule"]["interval_second"]) == 12 * 3600


def test_dry_run_sends_nothing_and_prints_the_requests(package, capsys, monkeypatch):
    monkeypatch.delenv("KFP_HOST", raising=False)
    assert run_cli("schedule", "--package", str(package), "--name", "nightly", "--cron", "0 30 1 * * *",
                   "--dry-run") == 0
    out = capsys.readouterr().out
    steps = [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
    create = steps[-1]
    assert create["cron"] == "0 30 1 * * *"
    assert create["max_concurrency"] == 1 and create["no_catchup"] is True
    assert create["pipeline_root"] == "gs://your-bucket/taxi-tfx/pipeline_root"


def test_unreachable_server_and_missing_host_are_explained(package, capsys, monkeypatch):
    monkeypatch.delenv("KFP_HOST", raising=False)
    assert run_cli("submit", "--package", str(package)) == 2
    assert "pass --host or set KFP_HOST" in capsys.readouterr().out


@pytest.mark.parametrize(("cron", "every", "message"), [
    ("0 2 * * *", None, "try '0 0 2 * * *'"),
    (None, "2 hours", "use a positive number"),
    (None, None, "exactly one of --cron and --every"),
    ("0 0 2 * * *", "1d", "exactly one of --cron and --every"),
])
def test_bad_triggers_are_rejected_before_any_request(cron, every, message):
    with pytest.raises(SubmitError, match=re.escape(message)):
        Trigger.parse(cron, every)
    assert Trigger.parse(None, "90m").interval_seconds == 5400


def test_a_bad_cron_expression_is_a_usage_error_and_sends_nothing(server, package, capsys):
    sent = len(server.fake.requests)
    code = run_cli("schedule", "--package", str(package), "--host", server.host, "--name", "nightly",
                   "--cron", "0 2 * * *")
    assert code == 2
    assert "--cron '0 2 * * *' has 5 fields; KFP needs 6" in capsys.readouterr().out
    assert len(server.fake.requests) == sent
