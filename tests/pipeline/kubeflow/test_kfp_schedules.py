"""`schedule list | pause | resume | trigger | update` against the fake KFP API on loopback.

A contract test, as test_kfp_submit is: the requests kfp.Client sends when this
project drives it, and what the project makes of the answers. Each test first
creates a recurring run the way users do (`schedule --name ... --cron`); the fake's
`fire` starts a run as the server's ScheduledWorkflow controller would, so a test
can tell which version a recurring run fires after an update.
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


def newest(server) -> dict:
    """The newest version of the one schedule's pipeline, as the fake server orders them."""
    (recurring,) = server.fake.recurring_runs.values()
    return server.fake.newest_version(recurring["pipeline_version_reference"]["pipeline_id"])


def test_list_names_the_version_each_recurring_run_fires(server, nightly, capsys):
    (item,) = as_json(capsys, "schedule", "list", "--host", server.host)
    version = newest(server)
    assert item["name"] == "nightly" and item["state"] == "running" and item["cron"] == "0 0 2 * * *"
    assert item["follows_newest"] is True
    assert item["version"] == f"{version['display_name']} ({version['pipeline_version_id']}), " \
                              "its pipeline's newest"
    assert run_cli("schedule", "list", "--host", server.host) == 0
    assert f"nightly ({item['recurring_run_id']}): running, cron 0 0 2 * * *, pipeline version " \
           f"{version['display_name']}" in capsys.readouterr().out


def test_pause_and_resume_change_the_state_and_say_when_nothing_changed(server, nightly, capsys):
    paused = as_json(capsys, "schedule", "pause", "nightly", "--reason", "test", "--host", server.host)
    assert paused["changed"] is True and paused["state"] == "paused"
    (stored,) = server.fake.recurring_runs.values()
    assert stored["status"] == "DISABLED"
    assert server.fake.calls("POST", f"/recurringruns/{stored['recurring_run_id']}:disable")
    again = as_json(capsys, "schedule", "pause", "nightly", "--reason", "test", "--host", server.host)
    assert again["changed"] is False
    assert len(server.fake.calls("POST", f"/recurringruns/{stored['recurring_run_id']}:disable")) == 1
    resumed = as_json(capsys, "schedule", "resume", "nightly", "--reason", "test", "--host", server.host)
    assert resumed["changed"] is True and stored["status"] == "ENABLED"


def test_trigger_starts_one_run_of_the_version_the_schedule_fires_and_its_root(server, nightly, capsys):
    result = as_json(capsys, "schedule", "trigger", "nightly", "--reason", "test", "--host", server.host)
    (run,) = server.fake.runs.values()
    assert result["run_id"] == run["run_id"]
    assert run["pipeline_version_reference"]["pipeline_version_id"] == newest(server)["pipeline_version_id"]
    assert run["runtime_config"]["pipeline_root"] == "gs://your-bucket/taxi-tfx/pipeline_root"
    assert run["display_name"].startswith("nightly (triggered ")


def test_update_changes_what_the_schedule_fires_in_place(server, nightly, capsys):
    as_json(capsys, "schedule", "pause", "nightly", "--reason", "test", "--host", server.host)
    (stored,) = server.fake.recurring_runs.values()
    first = newest(server)
    created = len(server.fake.calls("POST", "/recurringruns"))
    nightly.write_text(SPEC + "# a changed spec\n")
    result = as_json(capsys, "schedule", "update", "nightly", "--reason", "test", "--package", str(nightly),
                     "--host", server.host)
    assert result["changed"] is True and result["in_place"] is True
    assert result["before"]["version_id"] == first["pipeline_version_id"]
    after = newest(server)["pipeline_version_id"]
    assert result["after"]["version_id"] == after != first["pipeline_version_id"]
    assert result["after"]["recurring_run_id"] == stored["recurring_run_id"], "the same recurring run"
    assert list(server.fake.recurring_runs) == [stored["recurring_run_id"]] and stored["status"] == "DISABLED"
    assert len(server.fake.calls("POST", "/recurringruns")) == created, "no recurring run created"
    assert not [r for r in server.fake.requests if r.method == "DELETE" and "/recurringruns/" in r.path]
    fired = server.fake.fire(stored["recurring_run_id"])
    assert fired["pipeline_version_reference"]["pipeline_version_id"] == result["after"]["version_id"]
    uploads = len(server.fake.calls("POST", "/pipelines/upload_version"))
    unchanged = as_json(capsys, "schedule", "update", "nightly", "--reason", "test",
                        "--package", str(nightly), "--host", server.host)
    assert unchanged["changed"] is False
    assert len(server.fake.calls("POST", "/pipelines/upload_version")) == uploads, "nothing uploaded"


def test_updating_back_to_an_earlier_spec_makes_it_the_newest_again(server, nightly, capsys):
    original = nightly.read_text()
    (stored,) = server.fake.recurring_runs.values()
    first = newest(server)
    nightly.write_text(SPEC + "# v2\n")
    as_json(capsys, "schedule", "update", "nightly", "--reason", "test", "--package", str(nightly),
            "--host", server.host)
    nightly.write_text(original)
    back = as_json(capsys, "schedule", "update", "nightly", "--reason", "back", "--package", str(nightly),
                   "--host", server.host)
    assert back["changed"] is True
    again = newest(server)
    assert again["display_name"] == f"{first['display_name']}-2", "the same spec, uploaded as the newest"
    fired = server.fake.fire(stored["recurring_run_id"])
    assert fired["pipeline_version_reference"]["pipeline_version_id"] == again["pipeline_version_id"]


def test_an_in_place_update_leaves_a_run_in_progress_alone(server, nightly, capsys):
    (stored,) = server.fake.recurring_runs.values()
    running = server.fake.fire(stored["recurring_run_id"])
    running["state"] = "RUNNING"
    nightly.write_text(SPEC + "# v2\n")
    result = as_json(capsys, "schedule", "update", "nightly", "--reason", "test", "--package", str(nightly),
                     "--host", server.host)
    assert result["changed"] is True and result["in_place"] is True
    assert server.fake.runs[running["run_id"]]["state"] == "RUNNING"
    assert stored["recurring_run_id"] in server.fake.recurring_runs


def test_an_unknown_name_is_one_line_naming_the_known_ones(server, nightly, capsys):
    capsys.readouterr()
    assert run_cli("schedule", "pause", "weekly", "--reason", "test", "--host", server.host) == 2
    out = capsys.readouterr().out.strip()
    assert "no recurring run named 'weekly' (it has: nightly)" in out and "\n" not in out
    assert run_cli("schedule", "trigger", "weekly", "--reason", "test", "--host", server.host) == 2
    assert "no recurring run named 'weekly'" in capsys.readouterr().out


def pin_to_its_version(server) -> dict:
    """The one recurring run, as one made by hand (or by an earlier release) that pins its version."""
    (stored,) = server.fake.recurring_runs.values()
    stored["pipeline_version_reference"]["pipeline_version_id"] = newest(server)["pipeline_version_id"]
    return stored


def test_a_pinned_schedule_is_replaced_once_by_one_that_follows_the_newest(server, nightly, capsys):
    pinned = pin_to_its_version(server)
    nightly.write_text(SPEC + "# v2\n")
    result = as_json(capsys, "schedule", "update", "nightly", "--reason", "test", "--package", str(nightly),
                     "--host", server.host)
    assert result["changed"] is True and result["in_place"] is False
    assert result["before"]["version"].endswith(", pinned")
    (remaining,) = server.fake.recurring_runs.values()  # the old one is gone: one schedule, not two
    assert remaining["recurring_run_id"] == result["after"]["recurring_run_id"] != pinned["recurring_run_id"]
    assert remaining["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert int(remaining["max_concurrency"]) == 1 and remaining["no_catchup"] is True
    assert "pipeline_version_id" not in remaining["pipeline_version_reference"]
    assert server.fake.calls("POST", "/recurringruns")[-1].json()["mode"] == "DISABLE", "created paused"
    assert remaining["status"] == "ENABLED", "then resumed, as the old one ran"
    nightly.write_text(SPEC + "# v3\n")
    later = as_json(capsys, "schedule", "update", "nightly", "--reason", "test", "--package", str(nightly),
                    "--host", server.host)
    assert later["in_place"] is True and later["after"]["recurring_run_id"] == remaining["recurring_run_id"]


def test_replacing_a_pinned_schedule_is_refused_while_its_run_is_in_progress_unless_forced(server, nightly,
                                                                                           capsys):
    """Deleting a recurring run deletes its workflows, a running one too (kubeflow/pipelines#7421)."""
    stored = pin_to_its_version(server)
    server.fake.runs["run-9"] = {"run_id": "run-9", "recurring_run_id": stored["recurring_run_id"],
                                 "state": "RUNNING", "display_name": "nightly 1"}
    server.fake.runs["run-8"] = {"run_id": "run-8", "recurring_run_id": stored["recurring_run_id"],
                                 "state": "SUCCEEDED", "display_name": "nightly 0"}
    versions = dict(server.fake.versions)
    nightly.write_text(SPEC + "# v2\n")
    update = ("schedule", "update", "nightly", "--reason", "test", "--package", str(nightly),
              "--host", server.host)
    capsys.readouterr()
    assert run_cli(*update) == 2
    out = capsys.readouterr().out
    assert "1 run(s) in progress (run-9)" in out and "--force" in out
    assert list(server.fake.recurring_runs) == [stored["recurring_run_id"]], "nothing changed"
    assert not server.fake.calls("POST", "/recurringruns")[1:], "no replacement was created"
    assert server.fake.versions == versions, "refused before the new version was uploaded"
    forced = as_json(capsys, *update, "--force")
    assert forced["changed"] is True and len(server.fake.recurring_runs) == 1


@pytest.fixture
def audit_store(tmp_path):
    """An ML Metadata store to record into, as KFP's would be reached through --store grpc://."""
    from pipeline.metadata import store as mlmd

    path = tmp_path / "audit.sqlite"
    mlmd.open_store(mlmd.sqlite_connection(path))
    return path


def recorded_actions(path):
    from pipeline.metadata import releases
    from pipeline.metadata import store as mlmd

    return releases.release_history(mlmd.open_store(mlmd.connection_from_url(str(path))), "taxi-tfx")


def test_each_action_is_recorded_with_who_why_and_what_changed(server, nightly, audit_store, capsys):
    recording = ("--host", server.host, "--store", str(audit_store))
    as_json(capsys, "schedule", "pause", "nightly", "--reason", "holiday freeze", *recording)
    triggered = as_json(capsys, "schedule", "trigger", "nightly", "--reason", "backfill", *recording)
    nightly.write_text(SPEC + "# v2\n")
    updated = as_json(capsys, "schedule", "update", "nightly", "--reason", "new features",
                      "--package", str(nightly), *recording)
    assert updated["recorded_in"] == str(audit_store)
    update, trigger, pause = recorded_actions(audit_store)  # newest first
    assert [r.action for r in (pause, trigger, update)] == ["schedule pause", "schedule trigger",
                                                            "schedule update"]
    assert all(r.state == "COMPLETE" and r.user for r in (pause, trigger, update))
    assert pause.reason == "holiday freeze"
    assert pause.detail == f"nightly ({updated['before']['recurring_run_id']}) paused"
    assert trigger.run_id == triggered["run_id"]
    assert update.from_version == updated["before"]["version_ref"] != update.to_version
    assert update.to_version == updated["after"]["version_ref"]
    capsys.readouterr()
    assert main(["models", "--store", str(audit_store)]) == 0
    shown = capsys.readouterr().out
    assert (f"schedule update nightly ({updated['after']['recurring_run_id']}): {update.from_version} → "
            f"{update.to_version}") in shown
    assert ": new features [complete]" in shown
    capsys.readouterr()
    assert main(["lineage", "runs", "--store", str(audit_store)]) == 0
    assert "schedule pause nightly" in capsys.readouterr().out, "lineage runs lists the newest actions"
    history = as_json(capsys, "models", "history", "--store", str(audit_store))
    assert [(r["action"], r["reason"], r["to_version"]) for r in history] == [
        ("schedule update", "new features", update.to_version),
        ("schedule trigger", "backfill", pause.to_version),
        ("schedule pause", "holiday freeze", pause.to_version)]


def test_a_refused_action_is_recorded_as_failed_and_a_bad_store_sends_nothing(server, nightly,
                                                                               audit_store, capsys):
    assert run_cli("schedule", "trigger", "weekly", "--reason", "r", "--host", server.host,
                   "--store", str(audit_store)) == 2
    assert recorded_actions(audit_store) == [], "an unknown name is refused before anything is recorded"
    stored = pin_to_its_version(server)
    server.fake.runs["run-9"] = {"run_id": "run-9", "recurring_run_id": stored["recurring_run_id"],
                                 "state": "RUNNING"}
    nightly.write_text(SPEC + "# v2\n")
    assert run_cli("schedule", "update", "nightly", "--reason", "r", "--package", str(nightly),
                   "--host", server.host, "--store", str(audit_store)) == 2
    (failed,) = recorded_actions(audit_store)
    assert failed.state == "FAILED" and "in progress (run-9)" in failed.detail
    requests = len(server.fake.requests)
    assert run_cli("schedule", "pause", "nightly", "--reason", "r", "--host", server.host,
                   "--store", str(audit_store.parent / "missing.sqlite")) == 2
    assert len(server.fake.requests) == requests, "a wrong --store fails before any request"
    assert run_cli("schedule", "pause", "nightly", "--reason", " ", "--host", server.host) == 2
    assert stored["status"] == "ENABLED"


def test_a_triggered_runs_record_shows_in_why_lineage_and_its_report(server, nightly, audit_store, capsys,
                                                                     tmp_path):
    from pipeline.kubeflow.metadata import KfpRunRecorder
    from pipeline.metadata import store as mlmd

    triggered = as_json(capsys, "schedule", "trigger", "nightly", "--reason", "backfill after the outage",
                        "--host", server.host, "--store", str(audit_store))
    run_id = triggered["run_id"]
    # The run's contexts, as KFP's launcher writes them into its store when the run starts.
    KfpRunRecorder(mlmd.open_store(mlmd.connection_from_url(str(audit_store), read_only=False)), "taxi-tfx",
                   run_id, "gs://bucket/root")
    shown = f"schedule trigger nightly ({triggered['recurring_run_id']}): run {run_id} of "
    for command in (["why", run_id], ["lineage", "show", run_id]):
        capsys.readouterr()
        assert main([*command, "--store", str(audit_store)]) == 0
        out = capsys.readouterr().out
        assert "Release action: " in out and shown in out and ": backfill after the outage [complete]" in out
    why = as_json(capsys, "why", run_id, "--store", str(audit_store))
    assert [(r["action"], r["reason"]) for r in why["release_actions"]] == [
        ("schedule trigger", "backfill after the outage")]
    page = tmp_path / "report.html"
    assert main(["report", run_id, "--store", str(audit_store), "--output", str(page)]) == 0
    assert shown in page.read_text(encoding="utf-8")


def test_the_configured_metadata_store_records_without_store(server, nightly, audit_store, capsys):
    configured = ("--host", server.host, "--set", f"kubeflow.metadata_store={audit_store}")
    paused = as_json(capsys, "schedule", "pause", "nightly", "--reason", "freeze", *configured)
    assert paused["recorded_in"] == str(audit_store)
    (record,) = recorded_actions(audit_store)
    assert (record.action, record.reason, record.state) == ("schedule pause", "freeze", "COMPLETE")
    capsys.readouterr()
    assert run_cli("schedule", "resume", "nightly", "--reason", "thaw", "--host", server.host) == 0
    assert "not recorded in ML Metadata (give --store, or set kubeflow.metadata_store)" in \
        capsys.readouterr().out
    assert len(recorded_actions(audit_store)) == 1
