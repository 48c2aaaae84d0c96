"""`schedule list | pause | resume | trigger | update` against the fake KFP API on loopback.

A contract test, as test_kfp_submit is: the requests kfp.Client sends when this
project drives it, and what the project makes of the answers. Each test first
creates a recurring run the way users do today (`schedule --name ... --cron`).
"""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from tests.fake_kfp import FakeKfpServer

pytestmark = pytest.mark.unit

SPEC = "pipelineInfo:\n  name: taxi-tfx\nschemaVersion: 2.1.0\n"


@pytest.fixture
def server():
    with FakeKfpServer() as running:
        yield running


@pytest.fixture
def nightly(server, tmp_path):
    """A recurring run created as today, and the spec it runs."""
    package = tmp_path / "pipeline.yaml"
    package.write_text(SPEC)
    assert run_cli("schedule", "--package", str(package), "--host", server.host, "--name", "nightly",
                   "--cron", "0 0 2 * * *") == 0
    return package


def run_cli(*args: str) -> int:
    return main([*args, "--config", "configs/kubeflow.yaml"])


def as_json(capsys, *args: str):
    capsys.readouterr()
    assert run_cli(*args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_list_names_the_version_each_recurring_run_runs(server, nightly, capsys):
    (item,) = as_json(capsys, "schedule", "list", "--host", server.host)
    version = next(iter(server.fake.versions.values()))
    assert item["name"] == "nightly" and item["state"] == "running" and item["cron"] == "0 0 2 * * *"
    assert item["version"] == f"{version['display_name']} (version-1)"
    assert run_cli("schedule", "list", "--host", server.host) == 0
    assert f"nightly ({item['recurring_run_id']}): running, cron 0 0 2 * * *, pipeline version " \
           f"{version['display_name']}" in capsys.readouterr().out


def test_pause_and_resume_change_the_state_and_say_when_nothing_changed(server, nightly, capsys):
    paused = as_json(capsys, "schedule", "pause", "nightly", "--host", server.host)
    assert paused["changed"] is True and paused["state"] == "paused"
    (stored,) = server.fake.recurring_runs.values()
    assert stored["status"] == "DISABLED"
    assert server.fake.calls("POST", f"/recurringruns/{stored['recurring_run_id']}:disable")
    again = as_json(capsys, "schedule", "pause", "nightly", "--host", server.host)
    assert again["changed"] is False
    assert len(server.fake.calls("POST", f"/recurringruns/{stored['recurring_run_id']}:disable")) == 1
    resumed = as_json(capsys, "schedule", "resume", "nightly", "--host", server.host)
    assert resumed["changed"] is True and stored["status"] == "ENABLED"


def test_trigger_starts_one_run_of_the_schedules_version_and_root(server, nightly, capsys):
    result = as_json(capsys, "schedule", "trigger", "nightly", "--host", server.host)
    (run,) = server.fake.runs.values()
    assert result["run_id"] == run["run_id"]
    assert run["pipeline_version_reference"]["pipeline_version_id"] == "version-1"
    assert run["runtime_config"]["pipeline_root"] == "gs://your-bucket/taxi-tfx/pipeline_root"
    assert run["display_name"].startswith("nightly (triggered ")


def test_update_points_the_schedule_at_a_new_version_and_leaves_one(server, nightly, capsys):
    as_json(capsys, "schedule", "pause", "nightly", "--host", server.host)
    nightly.write_text(SPEC + "# a changed spec\n")
    result = as_json(capsys, "schedule", "update", "nightly", "--package", str(nightly),
                     "--host", server.host)
    assert result["changed"] is True
    assert result["before"]["version_id"] == "version-1" and result["after"]["version_id"] == "version-2"
    (remaining,) = server.fake.recurring_runs.values()  # the old one is gone: one schedule, not two
    assert remaining["recurring_run_id"] == result["after"]["recurring_run_id"]
    assert remaining["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert int(remaining["max_concurrency"]) == 1 and remaining["no_catchup"] is True
    assert remaining["status"] == "DISABLED", "a paused schedule stays paused"
    # Created paused, then the old one deleted: never two that fire.
    create = server.fake.calls("POST", "/recurringruns")[-1].json()
    assert create["mode"] == "DISABLE"
    unchanged = as_json(capsys, "schedule", "update", "nightly", "--package", str(nightly),
                        "--host", server.host)
    assert unchanged["changed"] is False and len(server.fake.recurring_runs) == 1


def test_an_updated_running_schedule_is_running_again(server, nightly, capsys):
    nightly.write_text(SPEC + "# v2\n")
    result = as_json(capsys, "schedule", "update", "nightly", "--package", str(nightly),
                     "--host", server.host)
    (remaining,) = server.fake.recurring_runs.values()
    assert remaining["status"] == "ENABLED" and result["after"]["state"] == "running"


def test_an_unknown_name_is_one_line_naming_the_known_ones(server, nightly, capsys):
    capsys.readouterr()
    assert run_cli("schedule", "pause", "weekly", "--host", server.host) == 2
    out = capsys.readouterr().out.strip()
    assert "no recurring run named 'weekly' (it has: nightly)" in out and "\n" not in out
    assert run_cli("schedule", "trigger", "weekly", "--host", server.host) == 2
    assert "no recurring run named 'weekly'" in capsys.readouterr().out


def test_update_refuses_while_a_scheduled_run_is_in_progress_unless_forced(server, nightly, capsys):
    """Deleting a recurring run deletes its workflows, a running one too (kubeflow/pipelines#7421)."""
    (stored,) = server.fake.recurring_runs.values()
    server.fake.runs["run-9"] = {"run_id": "run-9", "recurring_run_id": stored["recurring_run_id"],
                                 "state": "RUNNING", "display_name": "nightly 1"}
    server.fake.runs["run-8"] = {"run_id": "run-8", "recurring_run_id": stored["recurring_run_id"],
                                 "state": "SUCCEEDED", "display_name": "nightly 0"}
    nightly.write_text(SPEC + "# v2\n")
    update = ("schedule", "update", "nightly", "--package", str(nightly), "--host", server.host)
    capsys.readouterr()
    assert run_cli(*update) == 2
    out = capsys.readouterr().out
    assert "1 run(s) in progress (run-9)" in out and "--force" in out
    assert list(server.fake.recurring_runs) == [stored["recurring_run_id"]], "nothing changed"
    assert not server.fake.calls("POST", "/recurringruns")[1:], "no replacement was created"
    assert len(server.fake.versions) == 1, "refused before the new version was uploaded"
    forced = as_json(capsys, *update, "--force")
    assert forced["changed"] is True and len(server.fake.recurring_runs) == 1
