"""`models rollback | pin | unpin` on the serving folder and store of real runs.

The output folder of the shared e2e runs is copied and one more run, with a
different dropout, pushes a second model. The tests then roll back, kill a
rollback, pin, run, unpin and run, in file order: each starts from what the
one before left. The runs are real: the baseline their Evaluator used and
what their Pusher did are read back from ML Metadata.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from components.production_baseline.executor import production_model
from components.versioned_pusher.versions import PARTIAL_PREFIX, complete_local_versions
from pipeline.metadata import releases
from pipeline.metadata import store as mlmd
from pipeline.serving.predict import resolve_model
from pipeline.serving.publish import fingerprint
from tests.conftest import PROJECT_ROOT, cli, run_pipeline_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def output(pipeline_runs, taxi_sample_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rollback") / "out"
    shutil.copytree(pipeline_runs[0], folder)
    # Earlier tests may have pushed more versions into the shared runs' folder: keep its newest only,
    # so that the run below makes exactly two (what each test then rolls between).
    for version in complete_local_versions(folder / "serving")[:-1]:
        shutil.rmtree(folder / "serving" / str(version))
    second = run_pipeline_cli(taxi_sample_dir, folder, "--set", "training.dropout=0.25",
                              "--set", "evaluation.max_auc_drop_vs_baseline=1.0")
    assert second.returncode == 0, second.stdout + second.stderr
    versions = complete_local_versions(folder / "serving")
    assert len(versions) == 2 and fingerprint(folder / "serving", versions[0]) != \
        fingerprint(folder / "serving", versions[1])
    return folder


def rollback(output: Path, *arguments: str, code: int = 0) -> subprocess.CompletedProcess:
    return release(output, "rollback", *arguments, code=code)


def release(output: Path, action: str, *arguments: str, code: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run(cli("models", action, "--output", str(output), *arguments), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


def last_line(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr).strip().splitlines()[-1]


def newest_run(output: Path):
    store = mlmd.open_store(mlmd.connection_from_url(str(output / "metadata.sqlite")))
    return store, mlmd.pipeline_runs(store)[0]


def component_artifacts(store, run, component: str, event_types) -> dict[str, list]:
    """The artifacts of one component's execution in a run, by event key."""
    (execution,) = [item.execution for item in mlmd.component_executions(store, run)
                    if item.component == component]
    by_key: dict[str, list] = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type in event_types:
            key = event.path.steps[0].key
            by_key.setdefault(key, []).extend(store.get_artifacts_by_id([event.artifact_id]))
    return by_key


def models(output: Path) -> list[dict]:
    """`models --json` for the output folder (TAXI_TFX_OUTPUT): the served mark reads its serving folder."""
    result = subprocess.run(cli("models", "--json"), cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TAXI_TFX_OUTPUT": str(output)}, check=True)
    return json.loads(result.stdout)


def history(output: Path) -> list[releases.ReleaseRecord]:
    store = mlmd.open_store(mlmd.connection_from_url(str(output / "metadata.sqlite")))
    return releases.release_history(store, None)


def test_rollback_serves_the_earlier_model_again_and_records_who_and_why(output):
    serving = output / "serving"
    first, second = complete_local_versions(serving)
    before = {row["version"]: row for row in models(output)}
    result = json.loads(rollback(output, "--reason", "latency regression in v2", "--json").stdout)
    assert (result["from_version"], result["to_version"]) == (str(second), str(first))
    versions = complete_local_versions(serving)
    assert versions[:2] == [first, second] and str(versions[-1]) == result["new_version"]
    assert fingerprint(serving, versions[-1]) == fingerprint(serving, first)
    # What the next run's Evaluator compares against, and what predict scores with.
    assert production_model(str(serving))[0] == str(serving / result["new_version"])
    assert resolve_model("latest", serving) == serving / result["new_version"]
    (record,) = history(output)
    assert (record.state, record.action, record.user, record.reason) == \
        ("COMPLETE", "rollback", getpass.getuser(), "latency regression in v2")
    assert (record.from_version, record.to_version, record.new_version) == \
        (str(second), str(first), result["new_version"])
    rows = models(output)
    assert rows[0]["version"] == result["new_version"] and rows[0]["served"]
    assert not any(row["served"] for row in rows[1:])
    assert rows[0]["note"] == f"rollback to {first} by {getpass.getuser()}: latency regression in v2"
    assert rows[0]["run_id"] == before[str(first)]["run_id"] and rows[0]["auc"] == before[str(first)]["auc"]
    trace = subprocess.run(cli("lineage", "trace", "latest-pushed", "--json", "--store",
                               str(output / "metadata.sqlite")), cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=120, check=True)
    tree = json.loads(trace.stdout)
    action = tree["children"][0]
    assert action["label"] == "ReleaseAction" and action["details"]["reason"] == "latency regression in v2"
    assert action["children"][0]["details"]["pushed_version"] == str(first)
    assert "Trainer" in trace.stdout
    # The run whose model is served again lists the rollback: why, lineage show and its report.
    first_run = before[str(first)]["run_id"]
    assert record.run_id == first_run
    actions = run_release_actions(output, first_run)
    assert [(a["action"], a["reason"], a["new_version"]) for a in actions] == \
        [("rollback", "latency regression in v2", result["new_version"])]
    shown = subprocess.run(cli("lineage", "show", first_run, "--store", str(output / "metadata.sqlite")),
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"rollback {second} → {first} (served as {result['new_version']})" in shown
    page = output / "rollback-report.html"
    store_file = str(output / "metadata.sqlite")
    subprocess.run(cli("report", first_run, "--output", str(page), "--store", store_file),
                   cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "latency regression in v2" in page.read_text(encoding="utf-8")


def run_release_actions(output: Path, run_id: str) -> list[dict]:
    """`why RUN --json`'s release actions: those that name the run."""
    why = subprocess.run(cli("why", run_id, "--json", "--store", str(output / "metadata.sqlite")),
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(why.stdout)["release_actions"]


@pytest.mark.parametrize(("arguments", "named"), [
    ([], "--reason"),
    (["--reason", "  "], "--reason: empty"),
    (["--reason", "x", "--to", "123"], "--to 123: no such version"),
    (["--reason", "x", "--to", "first"], "it holds the model served now"),
])
def test_a_bad_argument_changes_nothing(output, arguments, named):
    serving = output / "serving"
    first = complete_local_versions(serving)[0]
    arguments = [str(first) if value == "first" else value for value in arguments]
    listing, records = sorted(os.listdir(serving)), history(output)
    result = rollback(output, *arguments, code=2)
    assert named in (result.stdout + result.stderr).strip().splitlines()[-1]
    assert sorted(os.listdir(serving)) == listing and history(output) == records


KILLED_ROLLBACK = """
import shutil, sys, time
from pathlib import Path
from pipeline.metadata import releases, store as mlmd
from pipeline.serving.rollback import plan_rollback, publish

output, started = Path(sys.argv[1]), Path(sys.argv[2])

def slow_copy(source, target, ignore=None):
    def copy_slowly(src, dst):
        started.touch()
        time.sleep(0.3)
        return shutil.copy2(src, dst)
    return shutil.copytree(source, target, ignore=ignore, copy_function=copy_slowly)

store = mlmd.open_store(mlmd.sqlite_connection(output / "metadata.sqlite"))
plan = plan_rollback(output / "serving", None)
action = releases.begin(store, "taxi-tfx", {"action": "rollback", "user": "test", "reason": "killed",
                        "from_version": plan.from_version, "to_version": plan.to_version,
                        "new_version": plan.new_version, "serving_dir": str(output / "serving")})
publish(plan, {"reason": "killed"}, copy_tree=slow_copy)
"""


def test_a_rollback_killed_mid_copy_never_shows_half_a_switch_and_the_next_one_settles_it(output, tmp_path):
    serving = output / "serving"
    served_before = complete_local_versions(serving)[-1]
    seen: set[int] = set()
    broken: list[str] = []
    stop = threading.Event()

    def read_served_version():  # what TF Serving, predict and the baseline lookup would pick
        while not stop.is_set():
            newest = complete_local_versions(serving)[-1]
            if not (serving / str(newest) / "saved_model.pb").is_file():
                broken.append(f"{newest} has no saved_model.pb")
            seen.add(newest)

    reader = threading.Thread(target=read_served_version, daemon=True)
    reader.start()
    started = tmp_path / "copy-started"
    process = subprocess.Popen([sys.executable, "-c", KILLED_ROLLBACK, str(output), str(started)],
                               cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 60
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the copy never started"
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    stop.set()
    reader.join(timeout=10)
    assert not broken and seen == {served_before}
    assert [p for p in os.listdir(serving) if p.startswith(PARTIAL_PREFIX)], "the kill left its partial copy"
    assert history(output)[0].state == "RUNNING"
    result = json.loads(rollback(output, "--reason", "after the kill", "--json").stdout)
    records = history(output)
    assert [r.state for r in records[:2]] == ["COMPLETE", "CANCELED"] and records[1].reason == "killed"
    assert not [p for p in os.listdir(serving) if p.startswith(PARTIAL_PREFIX)]
    assert str(complete_local_versions(serving)[-1]) == result["new_version"]



PIN_REASON = "frozen for the audit"
LATER_RUN = ("--set", "training.dropout=0.3", "--set", "evaluation.max_auc_drop_vs_baseline=1.0")


def model_pushed_as(store, version: str):
    """The Model artifact whose push published `version` (the Pusher's input)."""
    (pushed,) = [a for a in mlmd.artifacts_by_type(store, "PushedModel")
                 if str(mlmd.custom_value(a, "pushed_version")) == version
                 and not mlmd.custom_value(a, "reused_existing_version")]
    (execution_id,) = {e.execution_id for e in store.get_events_by_artifact_ids([pushed.id])
                       if e.type == pb.Event.OUTPUT}
    (model_id,) = [e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
                   if e.type == pb.Event.INPUT and e.path.steps[0].key == "model"]
    return model_id


def test_pin_refuses_what_it_cannot_hold_and_changes_nothing(output):
    serving = output / "serving"
    first = str(complete_local_versions(serving)[0])
    rollback(output, "--to", first, "--reason", "back to the first model")
    served = str(complete_local_versions(serving)[-1])
    listing, records = sorted(os.listdir(serving)), history(output)
    other = next(str(v) for v in complete_local_versions(serving)
                 if fingerprint(serving, v) != fingerprint(serving, int(served)))
    assert "123: no such version" in last_line(release(output, "pin", "123", "--reason", "x", code=2))
    assert f"{other}: not the model served now (version {served})" in \
        last_line(release(output, "pin", other, "--reason", "x", code=2))
    assert "nothing is pinned in" in last_line(release(output, "unpin", "--reason", "x", code=2))
    assert "--reason" in last_line(release(output, "pin", served, code=2))
    assert sorted(os.listdir(serving)) == listing and history(output) == records


def test_a_pinned_version_stays_served_while_a_run_trains_evaluates_and_pushes_nothing(
        output, taxi_sample_dir):
    serving = output / "serving"
    first = str(complete_local_versions(serving)[0])
    served = str(complete_local_versions(serving)[-1])
    user = getpass.getuser()
    pinned = json.loads(release(output, "pin", served, "--reason", PIN_REASON, "--json").stdout)
    assert (pinned["version"], pinned["user"]) == (served, user)
    sentence = f"pinned at {served} by {user}: {PIN_REASON}"
    assert f"already {sentence}" in last_line(release(output, "pin", served, "--reason", "again", code=2))
    assert sentence in last_line(rollback(output, "--reason", "not now", code=2))
    rows = models(output)
    assert rows[0]["version"] == served and rows[0]["pinned"] and rows[0]["served"]
    assert [(r.action, r.state) for r in history(output)[:2]] == \
        [("pin", "COMPLETE"), ("rollback", "COMPLETE")]
    # The pinned model's run (the first, served again) lists the pin.
    first_run = next(row["run_id"] for row in rows if row["version"] == first)
    assert [(a["action"], a["to_version"], a["reason"]) for a in run_release_actions(output, first_run)][0] \
        == ("pin", served, PIN_REASON)

    versions = complete_local_versions(serving)
    run = run_pipeline_cli(taxi_sample_dir, output, *LATER_RUN)
    assert run.returncode == 0, run.stdout + run.stderr
    assert complete_local_versions(serving) == versions, "a pinned serving folder got a new version"
    store, newest = newest_run(output)
    # The candidate was compared with the model served (version `served` serves the first run's model
    # again), not with the last one blessed.
    baseline = component_artifacts(store, newest, "Evaluator", (pb.Event.INPUT,))["baseline_model"]
    assert [a.id for a in baseline] == [model_pushed_as(store, first)]
    (pushed,) = component_artifacts(store, newest, "Pusher", (pb.Event.OUTPUT,))["pushed_model"]
    assert mlmd.custom_value(pushed, "pushed") == 0
    why = subprocess.run(cli("why", "--json", "--store", str(output / "metadata.sqlite")), cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    decision = json.loads(why.stdout)
    assert decision["blessed"] is True and decision["not_pushed"] == sentence
    text = subprocess.run(cli("why", "--store", str(output / "metadata.sqlite")), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"Pushed: nothing; not pushed: {sentence}" in text


def test_unpin_lets_the_next_run_push_the_blessed_model(output, taxi_sample_dir):
    serving = output / "serving"
    served = str(complete_local_versions(serving)[-1])
    result = json.loads(release(output, "unpin", "--reason", "audit done", "--json").stdout)
    assert result["version"] == served and not (serving / "pin.json").exists()
    assert (history(output)[0].action, history(output)[0].state) == ("unpin", "COMPLETE")
    # Same data, code and configuration as the pinned run: only the lifted pin makes it run again.
    run = run_pipeline_cli(taxi_sample_dir, output, *LATER_RUN)
    assert run.returncode == 0, run.stdout + run.stderr
    store, newest = newest_run(output)
    states = {item.component: item.state for item in mlmd.component_executions(store, newest)}
    assert states["Trainer"] == "CACHED" and states["Pusher"] == "COMPLETE"
    new = str(complete_local_versions(serving)[-1])
    assert new != served and model_pushed_as(store, new) == \
        component_artifacts(store, newest, "Trainer", mlmd.OUTPUT_EVENTS)["model"][0].id
    assert models(output)[0]["version"] == new and not models(output)[0]["pinned"]


BLESS_REASON = "the AUC bound was set too high for this quarter"


def test_a_manual_bless_pushes_a_model_the_evaluator_refused_and_says_so_everywhere(output, taxi_sample_dir):
    serving = output / "serving"
    served = str(complete_local_versions(serving)[-1])
    refused = run_pipeline_cli(taxi_sample_dir, output, "--set", "training.dropout=0.35", "--set",
                               "evaluation.thresholds=[{metric: auc, lower_bound: 0.9999}]")
    assert refused.returncode == 0, refused.stdout + refused.stderr
    store, run = newest_run(output)
    assert str(complete_local_versions(serving)[-1]) == served, "the Evaluator's refusal pushed something"
    assert "--reason: empty" in last_line(release(output, "bless", run.name, "--reason", " ", code=2))
    # A model folder without its variables is incomplete: refused, and nothing changes.
    (model,) = component_artifacts(store, run, "Trainer", mlmd.OUTPUT_EVENTS)["model"]
    index = Path(model.uri) / "Format-Serving" / "variables" / "variables.index"
    index.rename(index.with_suffix(".moved"))
    try:
        listing, records = sorted(os.listdir(serving)), history(output)
        assert f"run {run.name}: its model is incomplete: " in \
            last_line(release(output, "bless", run.name, "--reason", BLESS_REASON, code=2))
        assert sorted(os.listdir(serving)) == listing and history(output) == records
    finally:
        index.with_suffix(".moved").rename(index)

    result = json.loads(release(output, "bless", run.name, "--reason", BLESS_REASON, "--json").stdout)
    assert (result["run_id"], result["from_version"], result["blessed"]) == (run.name, served, False)
    new = str(complete_local_versions(serving)[-1])
    assert new == result["new_version"] and model_pushed_as(store, new) == model.id
    user = getpass.getuser()
    (record,) = [r for r in history(output) if r.action == "bless"]
    assert (record.state, record.user, record.reason, record.run_id) == \
        ("COMPLETE", user, BLESS_REASON, run.name)
    row = models(output)[0]
    assert (row["version"], row["run_id"], row["served"]) == (new, run.name, True)
    assert row["note"] == f"manual bless by {user}: {BLESS_REASON}" and row["auc"] is not None
    store_file = str(output / "metadata.sqlite")
    why = json.loads(subprocess.run(cli("why", run.name, "--json", "--store", store_file), cwd=PROJECT_ROOT,
                                    capture_output=True, text=True, timeout=120, check=True).stdout)
    assert (why["blessed"], why["pushed_version"], why["blessed_by_hand"]) == \
        (False, new, f"{user}: {BLESS_REASON}")
    trace = json.loads(subprocess.run(cli("lineage", "trace", "latest-pushed", "--json", "--store",
                                          str(output / "metadata.sqlite")), cwd=PROJECT_ROOT,
                                      capture_output=True, text=True, timeout=120, check=True).stdout)
    action = trace["children"][0]
    assert action["label"] == "ReleaseAction" and action["details"]["run_id"] == run.name
    assert "Trainer" in json.dumps(trace)
    page = output / "bless-report.html"
    subprocess.run(cli("report", run.name, "--output", str(page), "--store", str(output / "metadata.sqlite")),
                   cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert BLESS_REASON in page.read_text(encoding="utf-8") and 'id="manual-bless"' in page.read_text()
    assert "is the one served now" in last_line(release(output, "bless", run.name, "--reason", "x", code=2))


def test_a_manual_bless_refuses_a_run_whose_data_failed_the_gate(output, tmp_path):
    from data.generator import GeneratorSpec, generate
    from data.prepare import load_source

    bad = generate(GeneratorSpec(rows=300, seed=5, defects=("out_of_domain",)), tmp_path / "bad",
                   load_source())
    stopped = run_pipeline_cli(bad.parent, output)
    assert stopped.returncode != 0 and "ValidationGate" in stopped.stdout + stopped.stderr
    _, run = newest_run(output)
    listing, records = sorted(os.listdir(output / "serving")), history(output)
    assert f"run {run.name}: its data failed the validation gate" in \
        last_line(release(output, "bless", "latest", "--reason", "ship it anyway", code=2))
    assert sorted(os.listdir(output / "serving")) == listing and history(output) == records
