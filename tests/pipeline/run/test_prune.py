"""`prune` on real runs: what it keeps, a kill -9 in the middle, and the lineage of a pruned run.

Two runs into one output folder (the second on changed data, so it makes its
own examples and model), then in file order: a dry run, --keep-pushed, a prune
killed by SIGKILL after its second removal and finished by the next prune, the
read commands on the pruned run, and a new run on the pruned run's data, which
TFX must recompute (its cache never reuses an artifact that is not LIVE).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from components.versioned_pusher.versions import MODEL_URI, complete_local_versions, local_push_record
from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, run_pipeline_cli, store_of

pytestmark = pytest.mark.e2e

# Runs `prune` in this process with shutil.rmtree made to SIGKILL the process on its third call:
# two artifacts are removed, the third is renamed aside and left, the rest only marked.
KILLED_PRUNE = """
import os, shutil, signal, sys
calls = []
real = shutil.rmtree
def rmtree(path, *args, **kwargs):
    calls.append(path)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, *args, **kwargs)
shutil.rmtree = rmtree
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def runs(taxi_sample_dir, tmp_path_factory):
    """(output, old data folder, the older run, the newer run)."""
    root = tmp_path_factory.mktemp("prune")
    old_data, new_data, output = root / "old", root / "new", root / "out"
    shutil.copytree(taxi_sample_dir, old_data)
    new_data.mkdir()
    rows = (old_data / "data.csv").read_text().splitlines(keepends=True)
    (new_data / "data.csv").write_text("".join(rows[:-200]))
    for data in (old_data, new_data):
        result = run_pipeline_cli(data, output)
        assert result.returncode == 0, result.stdout + result.stderr
    newer, older = mlmd.pipeline_runs(store_of(output))
    return output, old_data, older, newer


def prune(output: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli("prune", "--output", str(output), *arguments), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)


def run_artifacts(store, run) -> list[pb.Artifact]:
    ids = [e.id for e in store.get_executions_by_context(run.id)]
    events = [e for e in store.get_events_by_execution_ids(ids) if e.type == pb.Event.OUTPUT]
    return store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))


def assert_consistent(output: Path) -> None:
    """Every LIVE artifact under the root has its files; every DELETED one has none, nor a trash folder."""
    for artifact in store_of(output).get_artifacts():
        path = Path(artifact.uri)
        if artifact.state == pb.Artifact.LIVE:
            assert path.exists(), artifact
        elif artifact.state == pb.Artifact.DELETED:
            assert not path.exists() and not path.with_name(f".{path.name}.pruning").exists(), artifact


def test_a_dry_run_lists_only_the_older_runs_bulky_artifacts(runs):
    output, _, older, newer = runs
    result = prune(output, "--keep-last", "1", "--dry-run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert plan["kept_runs"] == [newer.name] and plan["pruned_runs"] == [older.name]
    store = store_of(output)
    older_ids = {a.id for a in run_artifacts(store, older)}
    planned = {a["id"] for a in plan["artifacts"]}
    assert planned and planned <= older_ids
    assert {a["type"] for a in plan["artifacts"]} <= {"Examples", "TransformGraph", "Model", "ModelRun",
                                                      "ExampleStatistics", "ModelEvaluation"}
    assert plan["bytes"] > 0 and plan["action_id"] is None
    assert all(a.state == pb.Artifact.LIVE and Path(a.uri).exists() for a in store.get_artifacts())


def test_keep_pushed_keeps_a_run_whose_model_was_pushed(runs):
    output, _, older, _ = runs
    plan = json.loads(prune(output, "--keep-last", "1", "--keep-pushed", "--dry-run", "--json").stdout)
    assert older.name in plan["kept_runs"] and plan["artifacts"] == []  # the first run always pushes


def test_a_prune_killed_midway_is_finished_by_the_next_one(runs):
    output, _, older, newer = runs
    planned = json.loads(prune(output, "--keep-last", "1", "--dry-run", "--json").stdout)["artifacts"]
    assert len(planned) >= 4
    killed = subprocess.run([sys.executable, "-c", KILLED_PRUNE, "prune", "--output", str(output),
                             "--keep-last", "1", "--reason", "disk full"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    states = {a.id: a.state for a in store_of(output).get_artifacts_by_id([a["id"] for a in planned])}
    assert sorted(states.values()).count(pb.Artifact.DELETED) == 2
    assert pb.Artifact.MARKED_FOR_DELETION in states.values()
    assert_consistent(output)  # even now: nothing LIVE without its files
    finished = prune(output, "--keep-last", "1")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"Finished first: {len(planned) - 2} artifact(s)" in finished.stdout
    store = store_of(output)
    assert {a.state for a in store.get_artifacts_by_id([a["id"] for a in planned])} == {pb.Artifact.DELETED}
    assert_consistent(output)
    records = [e for e in store.get_executions() if mlmd.custom_value(e, "action") == "prune"]
    assert [e.last_known_state for e in records] == [pb.Execution.COMPLETE]
    assert mlmd.custom_value(records[0], "reason") == "disk full"
    # The newer run and the served model are whole.
    assert all(a.state == pb.Artifact.LIVE and Path(a.uri).exists() for a in run_artifacts(store, newer))
    serving = output / "serving"
    served = local_push_record(serving / str(complete_local_versions(serving)[-1]))[MODEL_URI]
    assert Path(served).exists()


def test_lineage_answers_for_a_pruned_run_and_says_pruned(runs, tmp_path):
    output, _, older, _ = runs
    store_file = str(output / "metadata.sqlite")

    def read(*arguments: str) -> subprocess.CompletedProcess:
        result = subprocess.run(cli(*arguments, "--store", store_file), cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    assert "Pruned:" in read("why", older.name).stdout
    show = json.loads(read("lineage", "show", older.name, "--json").stdout)
    pruned = [a for a in show["artifacts"] if str(a["details"].get("state", "")).startswith("pruned")]
    assert {a["type"] for a in pruned} >= {"Examples", "Model"}
    assert "pruned" in read("lineage", "runs").stdout
    model = next(a for a in pruned if a["type"] == "Model")
    assert "pruned" in read("lineage", "trace", str(model["id"])).stdout
    assert "BLESSED" in read("why", older.name).stdout  # the decision records remain
    read("report", older.name, "--output", str(tmp_path / "older.html"))
    assert "artifact(s) removed from disk by" in (tmp_path / "older.html").read_text()
    assert "prune" in read("models").stdout  # the release history lists the action


def test_a_run_on_the_pruned_runs_data_recomputes_its_examples(runs):
    output, old_data, _, _ = runs
    result = run_pipeline_cli(old_data, output, "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    store = store_of(output)
    latest = mlmd.pipeline_runs(store)[0]
    states = {item.component: item.state for item in mlmd.component_executions(store, latest)}
    assert states["CsvExampleGen"] == "COMPLETE" and states["Transform"] == "COMPLETE"
    assert_consistent(output)


def test_keep_last_must_be_a_positive_number(runs):
    output = runs[0]
    for value in ("0", "x"):
        result = prune(output, "--keep-last", value)
        assert result.returncode == 2 and "--keep-last" in result.stderr
