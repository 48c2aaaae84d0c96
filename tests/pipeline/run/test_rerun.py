"""`rerun RUN` and `lineage diff` on real runs: the record each run writes, what differs, --force.

One run on a copy of the taxi sample, then in file order: a dry run (nothing
differs in the files), a touched file (same content: still no difference), a
changed file (refused without --force, nothing runs), a forced rerun with a
reason, and a run with another epoch count that `lineage diff` must tell apart.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from configs.record import config_from_record
from pipeline.metadata import run_facts
from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, run_pipeline_cli, store_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def first(taxi_sample_dir, tmp_path_factory):
    """(data folder, output folder, the first run's context)."""
    root = tmp_path_factory.mktemp("rerun")
    data, output = root / "data", root / "out"
    shutil.copytree(taxi_sample_dir, data)
    result = run_pipeline_cli(data, output)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = mlmd.pipeline_runs(store_of(output))
    return data, output, run


def rerun(output: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli("rerun", *arguments, "--output", str(output)), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=900)


def rerun_json(output: Path, *arguments: str) -> tuple[int, dict]:
    result = rerun(output, *arguments, "--json")
    return result.returncode, json.loads(result.stdout)


def test_a_run_records_its_configuration_files_and_code(first):
    data, output, run = first
    config = config_from_record(mlmd.custom_value(run, run_facts.RESOLVED_CONFIG), "test")
    assert config.paths.data == data.resolve() and config.paths.output == output.resolve()
    assert config.training.epochs == 4  # from the tests' --set training.epochs=4, not the file's 12
    files = run_facts.recorded_input_files(run)
    csv = str(data.resolve() / "data.csv")
    assert files[csv]["sha256"] == hashlib.sha256(Path(csv).read_bytes()).hexdigest()
    assert files[csv]["size"] == Path(csv).stat().st_size
    assert str(config.paths.schema_file) in files  # the curated schema is an input too
    assert mlmd.custom_value(run, run_facts.RUN_BY) == getpass.getuser()
    assert mlmd.custom_value(run, run_facts.GIT_TREE).split(" ")[0] in ("clean", "dirty", "unknown")


def test_dry_run_shows_the_configuration_keys_the_file_now_sets_otherwise(first):
    _, output, run = first
    code, report = rerun_json(output, run.name, "--dry-run")
    assert code == 0 and report["ran"] is False and report["data_changed"] is False
    keys = {d["key"] for d in report["differences"] if d["section"] == "config"}
    # The run took these from --data, --output and --set; configs/local.yaml says otherwise.
    assert {"paths.data", "paths.output", "training.epochs"} <= keys
    assert not [d for d in report["differences"] if d["section"] == "files"]
    assert len(mlmd.pipeline_runs(store_of(output))) == 1


def test_a_touched_file_with_the_same_content_is_no_difference(first):
    data, output, run = first
    csv = data / "data.csv"
    status = csv.stat()
    os.utime(csv, ns=(status.st_atime_ns, status.st_mtime_ns + 5_000_000_000))
    code, report = rerun_json(output, run.name, "--dry-run")
    assert code == 0 and report["data_changed"] is False


def test_changed_data_is_refused_without_force_and_nothing_runs(first):
    data, output, run = first
    csv = data / "data.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:-100]))  # the last 100 rows gone
    result = rerun(output, run.name)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(csv.resolve()) in result.stdout  # the table names the file
    assert "--force" in result.stdout.splitlines()[-1]
    code, report = rerun_json(output, run.name)
    (changed,) = [d for d in report["differences"] if d["section"] == "files"]
    assert code == 2 and report["ran"] is False and changed["key"] == str(csv.resolve())
    assert changed["recorded"] != changed["now"]
    assert len(mlmd.pipeline_runs(store_of(output))) == 1


def test_force_reruns_with_the_recorded_configuration(first):
    _, output, run = first
    code, report = rerun_json(output, run.name, "--force", "--reason", "the last rows were duplicates")
    assert code == 0, report
    assert report["ran"] is True and report["rerun_of"] == run.name
    store = store_of(output)
    new = mlmd.run_context(store, report["run_id"])
    assert mlmd.custom_value(new, run_facts.RERUN_OF) == run.name
    assert mlmd.custom_value(new, run_facts.RERUN_REASON) == "the last rows were duplicates"
    # The same configuration, recorded again: not the file's (12 epochs), the run's.
    recorded = run_facts.RESOLVED_CONFIG
    assert mlmd.custom_value(new, recorded) == mlmd.custom_value(run, recorded)
    store_file = str(output / "metadata.sqlite")
    why = subprocess.run(cli("why", report["run_id"], "--store", store_file),
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert f"rerun of {run.name} by {getpass.getuser()}: the last rows were duplicates" in why.stdout
    why_json = json.loads(subprocess.run(cli("why", report["run_id"], "--store", store_file, "--json"),
                                         cwd=PROJECT_ROOT, capture_output=True, text=True,
                                         timeout=120).stdout)
    assert (why_json["rerun_of"], why_json["rerun_reason"]) == (run.name, "the last rows were duplicates")
    # The version the rerun pushed is marked so in `models` (the data changed: a new model, blessed).
    assert why_json["pushed_version"], why_json
    models = json.loads(subprocess.run(cli("models", "--store", store_file, "--json"), cwd=PROJECT_ROOT,
                                       capture_output=True, text=True, timeout=120).stdout)
    (pushed,) = [row for row in models if row["run_id"] == report["run_id"]]
    assert pushed["version"] == why_json["pushed_version"]
    assert pushed["note"] == f"rerun of {run.name} by {getpass.getuser()}: the last rows were duplicates"


def test_lineage_diff_shows_only_what_changed_config_and_files_included(first):
    data, output, run = first
    store_file = str(output / "metadata.sqlite")
    store = store_of(output)
    forced = mlmd.pipeline_runs(store)[0]
    diff = json.loads(subprocess.run(cli("lineage", "diff", run.name, forced.name, "--store", store_file,
                                         "--json"), cwd=PROJECT_ROOT, capture_output=True, text=True,
                                     timeout=120).stdout)["changes"]
    sections = {(change["section"], change["key"]) for change in diff}
    assert ("files", str((data / "data.csv").resolve())) in sections
    assert ("run", run_facts.RERUN_OF) in sections
    assert not [key for section, key in sections if section == "config"]  # the same configuration
    more = run_pipeline_cli(data, output, "--set", "training.epochs=3")
    assert more.returncode == 0, more.stdout + more.stderr
    latest = mlmd.pipeline_runs(store_of(output))[0]
    diff = json.loads(subprocess.run(cli("lineage", "diff", forced.name, latest.name, "--store", store_file,
                                         "--json"), cwd=PROJECT_ROOT, capture_output=True, text=True,
                                     timeout=120).stdout)["changes"]
    config = {change["key"]: (change["before"], change["after"]) for change in diff
              if change["section"] == "config"}
    assert config == {"training.epochs": (4, 3)}
    assert not [change for change in diff if change["section"] == "files"]


def test_an_unknown_run_is_one_line_and_exit_2(first):
    _, output, _ = first
    result = rerun(output, "no-such-run")
    assert result.returncode == 2
    assert result.stdout.strip().count("\n") == 0 and "no-such-run" in result.stdout
