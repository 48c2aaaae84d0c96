"""`run-spec`: the compiled Kubeflow spec run task by task through its container commands.

The whole DAG runs three times on small spans, as a cluster would run it on
three days: a first span pushes; a second span's ProductionBaseline finds that
push and the Verdict compares against it; a drifted third span stops at the
ValidationGate. Each run is recorded in ML Metadata the way KFP's launcher
records it, and the lineage commands read that store. The runner's own rules
(order, failure propagation, caching, placeholders) are tested on tiny specs
whose tasks are real `python -c` processes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from configs.settings import load_config
from data.generator import Drift, GeneratorSpec, generate
from data.prepare import load_source
from tests.conftest import PROJECT_ROOT, cli

IMAGE = "registry.example.com/taxi-tfx@sha256:" + "cd" * 32
NOT_AFTER_GATE = ("Transform", "Trainer", "ProductionBaseline", "Evaluator", "Verdict", "Pusher")


def run_spec(spec: Path, root: Path, store: Path, run_id: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli("run-spec", str(spec), "--root", str(root), "--store", str(store),
                              "--run-id", run_id),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)


def tasks_of(root: Path, run_id: str) -> dict[str, dict]:
    record = json.loads((root / run_id / "run.json").read_text())
    return {task["name"]: task for task in record["tasks"]}


def executor_output(root: Path, run_id: str, task: str) -> dict:
    return json.loads((root / run_id / task / "executor_output.json").read_text())


def serving_versions(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Compiles the Kubeflow config for local folders, then runs spans 1, 2 and a drifted 3."""
    from pipeline.kubeflow.compile import compile_pipeline

    work = tmp_path_factory.mktemp("run_spec")
    overrides = {
        "kubeflow.image": IMAGE,
        "kubeflow.pipeline_root": "gs://unused/pipeline_root",
        "kubeflow.data": str(work / "data"),
        "kubeflow.serving_dir": str(work / "serving"),
        "kubeflow.state_dir": str(work / "state"),
        "kubeflow.schema_file": str(PROJECT_ROOT / "schemas/taxi/schema.pbtxt"),
        # Plumbing, not model quality: two epochs, loose bounds, any change against the baseline allowed.
        "training.epochs": "2",
        "evaluation.thresholds": "[{metric: auc, lower_bound: 0.5}]",
        "evaluation.slice_thresholds": "[]",
        "evaluation.max_auc_drop_vs_baseline": "1.0",
        # One process per Beam task instead of a worker per core: the data is 500 rows.
        "kubeflow.beam_args": "[--direct_running_mode=in_memory]",
    }
    config = load_config(PROJECT_ROOT / "configs/kubeflow.yaml", [f"{k}={v}" for k, v in overrides.items()],
                         check_paths=False)
    spec = compile_pipeline(config, work / "pipeline.yaml").path
    source = load_source()
    root, store, runs = work / "root", work / "kfp-mlmd.sqlite", {}
    reference = work / "state" / "accepted_statistics.json"
    references, served = {}, {}
    for span, drift in [(1, Drift()), (2, Drift()), (3, Drift(cash_to_card=0.6))]:
        generate(GeneratorSpec(rows=500, seed=span, drift=drift), work / "data" / f"span-{span}", source)
        runs[span] = run_spec(spec, root, store, f"span-{span}")
        references[span] = reference.read_bytes() if reference.exists() else None
        served[span] = serving_versions(work / "serving")
    return work, root, store, runs, references, served


@pytest.mark.e2e
def test_first_span_runs_every_task_and_pushes(three_runs):
    work, root, _, runs, references, served = three_runs
    result = runs[1]
    assert result.returncode == 0, result.stdout + result.stderr
    tasks = tasks_of(root, "span-1")
    assert len(tasks) == 11 and {task["state"] for task in tasks.values()} == {"COMPLETE"}
    assert "Run span-1 succeeded: 11 tasks" in result.stdout
    (examples,) = executor_output(root, "span-1", "CsvExampleGen")["artifacts"]["examples"]["artifacts"]
    assert int(examples["metadata"]["span"]) == 1
    baseline = executor_output(root, "span-1", "ProductionBaseline")["artifacts"]["baseline_model"]
    assert baseline["artifacts"][0]["metadata"]["stands_in_for_candidate"] == 1, "nothing in production yet"
    assert len(served[1]) == 1
    assert (work / "serving" / served[1][0] / "saved_model.pb").is_file()
    assert references[1] is not None, "the gate accepted span 1 and wrote its reference"


@pytest.mark.e2e
def test_second_span_is_compared_with_the_first_push(three_runs):
    _, root, _, runs, references, served = three_runs
    assert runs[2].returncode == 0, runs[2].stdout + runs[2].stderr
    tasks = tasks_of(root, "span-2")
    # The schema task's inputs did not change: it comes from the cache; data-reading tasks run.
    schema_task = tasks["ImportSchemaGen"]
    assert schema_task["state"] == "CACHED" and schema_task["cached_from"] == "span-1"
    assert "ImportSchemaGen" in runs[2].stdout and "cached (run span-1)" in runs[2].stdout
    for name in ("CsvExampleGen", "ValidationGate", "ProductionBaseline", "Trainer", "Verdict"):
        assert tasks[name]["state"] == "COMPLETE", name
    first_version = served[1][0]
    outputs = executor_output(root, "span-2", "ProductionBaseline")["artifacts"]
    (baseline,) = outputs["baseline_model"]["artifacts"]
    assert baseline["metadata"]["stands_in_for_candidate"] == 0
    assert baseline["metadata"]["production_version"] == first_version
    verdict = json.loads((root / "span-2/Verdict/verdict/verdict.json").read_text())
    assert verdict["has_baseline"] is True
    assert any(check["baseline_value"] is not None for check in verdict["checks"])
    assert references[2] is not None
    assert references[2] != references[1], "the accepted span moved the reference"


@pytest.mark.e2e
def test_a_drifted_span_stops_at_the_gate_and_nothing_after_it_starts(three_runs):
    _, root, _, runs, references, served = three_runs
    result = runs[3]
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = tasks_of(root, "span-3")
    assert tasks["ValidationGate"]["state"] == "FAILED"
    assert "task ValidationGate failed:" in result.stdout and "payment_type" in result.stdout
    for name in NOT_AFTER_GATE:
        assert tasks[name]["state"] == "NOT_STARTED", name
        assert not (root / "span-3" / name).exists(), name
    assert "Not started, as on Kubeflow after a failed upstream task: Transform" in result.stdout
    assert served[3] == served[2], "nothing pushed"
    assert references[3] == references[2], "a refused span leaves the reference alone"


@pytest.mark.e2e
def test_lineage_reads_the_runs_as_kfp_recorded_them(three_runs, tmp_path):
    from ml_metadata import metadata_store

    from pipeline.metadata import store as mlmd

    work, root, store_path, runs, _, _ = three_runs
    store = metadata_store.MetadataStore(mlmd.sqlite_connection(store_path, read_only=True))
    (run,) = [c for c in store.get_contexts_by_type("system.PipelineRun") if c.name == "span-1"]
    assert [p.name for p in store.get_parent_contexts_by_context(run.id)] == ["taxi-tfx"]
    executions = store.get_executions_by_context(run.id)
    assert {e.type for e in executions} == {"system.DAGExecution", "system.ContainerExecution"}
    trainer = next(e for e in executions if mlmd.custom_value(e, "task_name") == "Trainer")
    assert mlmd.custom_value(trainer, "image") == IMAGE
    assert mlmd.custom_value(trainer, "cache_fingerprint")
    assert {a.type for a in store.get_artifacts()} >= {"tfx.Examples", "tfx.Model", "tfx.PushedModel",
                                                       "components.EvaluationVerdict"}

    def lineage(*args: str) -> str:
        result = subprocess.run(cli(*args, "--store", str(store_path)), cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    listed = {row["run_id"]: row for row in json.loads(lineage("lineage", "runs", "--json"))}
    assert set(listed) == {"span-1", "span-2", "span-3"}
    assert listed["span-1"]["blessed"] is True and listed["span-1"]["pushed_version"]
    assert listed["span-2"]["status"] == "complete (1 cached)"
    assert listed["span-3"]["status"] == "failed at ValidationGate"
    assert "payment_type" in lineage("why", "span-3")
    shown = lineage("lineage", "show", "span-2")
    assert "ProductionBaseline" in shown and "tfx.PushedModel" in shown
    models = json.loads(lineage("models", "--json"))
    assert [model["run_id"] for model in models][-1] == "span-1"
    trace = lineage("lineage", "trace", "latest-pushed")
    assert "Trainer" in trace and "CsvExampleGen" in trace and "tfx.Schema" in trace
    report = tmp_path / "report.html"
    lineage("report", "span-2", "--output", str(report))
    assert "span-2" in report.read_text()


# --- the runner's rules, on tiny specs of real processes ----------------------------------------

def tiny_spec(tasks: dict[str, dict], path: Path) -> Path:
    """A pipeline spec whose tasks run `python -c CODE`; CODE writes its output file (or fails)."""
    spec = {"pipelineInfo": {"name": "tiny"}, "schemaVersion": "2.1.0", "components": {},
            "deploymentSpec": {"executors": {}}, "root": {"dag": {"tasks": {}}}}
    for name, task in tasks.items():
        spec["components"][f"comp-{name}"] = {
            "executorLabel": f"exec-{name}",
            "outputDefinitions": {"artifacts": {"out": {"artifactType": {"schemaTitle": "system.Dataset"}}}}}
        spec["deploymentSpec"]["executors"][f"exec-{name}"] = {"container": {
            "image": "tiny:1", "command": ["python", "-c", task["code"]],
            "args": task.get("args", ["{{$}}"])}}
        body = {"componentRef": {"name": f"comp-{name}"}, "taskInfo": {"name": name},
                "cachingOptions": {"enableCache": task.get("cache", True)},
                "inputs": {"parameters": {"word": {"runtimeValue": {"constant": task.get("word", "x")}}}}}
        if task.get("after"):
            body["inputs"]["artifacts"] = {"data": {"taskOutputArtifact": {
                "producerTask": task["after"], "outputArtifactKey": "out"}}}
        spec["root"]["dag"]["tasks"][name] = body
    path.write_text(yaml.safe_dump(spec))
    return path


# Appends the parameter to its input (if any) into its output artifact's file.
WRITE = ("import json, pathlib, sys; e = json.loads(sys.argv[1]); "
         "src = e['inputs']['artifacts'].get('data'); "
         "text = pathlib.Path(src['artifacts'][0]['uri'], 'f').read_text() if src else ''; "
         "out = pathlib.Path(e['outputs']['artifacts']['out']['artifacts'][0]['uri']); "
         "out.mkdir(parents=True); (out / 'f').write_text(text + e['inputs']['parameterValues']['word'])")
FAIL = "import sys; print('starting'); raise SystemExit('ValueError: the input is hostile')"


def run_tiny(spec: Path, root: Path, run_id: str):
    from pipeline.kubeflow.compiled_spec import CompiledSpec
    from pipeline.kubeflow.run_spec import SpecRunner

    return SpecRunner(CompiledSpec.load(spec), root, run_id=run_id, parallel=2).run()


@pytest.mark.unit
def test_tasks_pass_artifacts_downstream_and_an_unchanged_rerun_comes_from_the_cache(tmp_path):
    from pipeline.kubeflow.compiled_spec import SpecError

    spec = tiny_spec({"a": {"code": WRITE, "word": "a"}, "b": {"code": WRITE, "word": "b", "after": "a"},
                      "c": {"code": WRITE, "word": "c", "after": "b", "cache": False}}, tmp_path / "s.yaml")
    first = run_tiny(spec, tmp_path / "root", "one")
    assert [t.state for t in first.tasks.values()] == ["COMPLETE"] * 3
    assert (tmp_path / "root/one/c/out/f").read_text() == "abc"
    second = run_tiny(spec, tmp_path / "root", "two")
    assert {n: t.state for n, t in second.tasks.items()} == {"a": "CACHED", "b": "CACHED", "c": "COMPLETE"}
    assert second.tasks["b"].cached_from == "one"
    assert (tmp_path / "root/two/c/out/f").read_text() == "abc", "c read the cached artifacts"
    # A changed parameter changes the fingerprint of its task and of everything downstream.
    changed = tiny_spec({"a": {"code": WRITE, "word": "A"}, "b": {"code": WRITE, "word": "b", "after": "a"},
                         "c": {"code": WRITE, "word": "c", "after": "b", "cache": False}},
                        tmp_path / "s2.yaml")
    third = run_tiny(changed, tmp_path / "root", "three")
    assert [t.state for t in third.tasks.values()] == ["COMPLETE"] * 3
    assert (tmp_path / "root/three/c/out/f").read_text() == "Abc"
    with pytest.raises(SpecError, match="run ids are not reused"):
        run_tiny(spec, tmp_path / "root", "one")
    # A cached artifact that was deleted is made again, not passed on missing.
    import shutil
    shutil.rmtree(tmp_path / "root/one/a/out")
    fourth = run_tiny(spec, tmp_path / "root", "four")
    assert fourth.tasks["a"].state == "COMPLETE"


@pytest.mark.unit
def test_a_failed_task_stops_its_downstream_only_and_the_command_names_it(tmp_path):
    spec = tiny_spec({"a": {"code": WRITE}, "bad": {"code": FAIL, "after": "a"},
                      "after_bad": {"code": WRITE, "after": "bad"}, "side": {"code": WRITE, "after": "a"}},
                     tmp_path / "s.yaml")
    result = subprocess.run(cli("run-spec", str(spec), "--root", str(tmp_path / "root"), "--run-id", "r"),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = tasks_of(tmp_path / "root", "r")
    assert {n: t["state"] for n, t in tasks.items()} == {
        "a": "COMPLETE", "bad": "FAILED", "after_bad": "NOT_STARTED", "side": "COMPLETE"}
    assert "task bad failed: ValueError: the input is hostile" in result.stdout
    assert "starting" in (tmp_path / "root/r/bad/task.log").read_text()
    assert "after_bad" in result.stdout.split("Not started")[-1]


@pytest.mark.unit
def test_specs_the_runner_cannot_run_faithfully_are_refused_by_name(tmp_path):
    from pipeline.kubeflow.compiled_spec import CompiledSpec, SpecError

    cycle = tiny_spec({"a": {"code": WRITE, "after": "b"}, "b": {"code": WRITE, "after": "a"}},
                      tmp_path / "c.yaml")
    with pytest.raises(SpecError, match="cycle"):
        CompiledSpec.load(cycle).order()
    odd = tiny_spec({"a": {"code": WRITE, "args": ["{{$.inputs.parameters['word']}}"]}}, tmp_path / "p.yaml")
    result = subprocess.run(cli("run-spec", str(odd), "--root", str(tmp_path / "root")), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, "refused before any task runs"
    assert "placeholder {{$.inputs.parameters['word']}} is not supported" in result.stdout
    assert not (tmp_path / "root").exists()
    (tmp_path / "not.yaml").write_text("just: text\n")
    result = subprocess.run(cli("run-spec", str(tmp_path / "not.yaml"), "--root", str(tmp_path / "r2")),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not a compiled pipeline spec" in result.stdout


@pytest.mark.unit
def test_a_task_whose_command_cannot_start_fails_by_name(tmp_path):
    spec_file = tiny_spec({"a": {"code": WRITE}, "b": {"code": WRITE, "after": "a"}}, tmp_path / "s.yaml")
    spec = yaml.safe_load(spec_file.read_text())
    spec["deploymentSpec"]["executors"]["exec-a"]["container"]["command"] = [str(tmp_path / "no-such-binary")]
    spec_file.write_text(yaml.safe_dump(spec))
    result = run_tiny(spec_file, tmp_path / "root", "r")
    assert result.tasks["a"].state == "FAILED" and "FileNotFoundError" in result.tasks["a"].error
    assert result.tasks["b"].state == "NOT_STARTED"


@pytest.mark.unit
def test_store_records_the_run_as_kfp_does_and_lineage_lists_it(tmp_path):
    from ml_metadata import metadata_store

    from pipeline.metadata import store as mlmd

    spec = tiny_spec({"a": {"code": WRITE}, "bad": {"code": FAIL, "after": "a"},
                      "after_bad": {"code": WRITE, "after": "bad"}}, tmp_path / "s.yaml")
    store_path = tmp_path / "kfp.sqlite"
    for run_id in ("one", "two"):
        subprocess.run(cli("run-spec", str(spec), "--root", str(tmp_path / "root"), "--run-id", run_id,
                           "--store", str(store_path)), cwd=PROJECT_ROOT, capture_output=True, timeout=120)
    store = metadata_store.MetadataStore(mlmd.sqlite_connection(store_path, read_only=True))
    run = store.get_context_by_type_and_name("system.PipelineRun", "two")
    by_task = {mlmd.custom_value(e, "task_name"): e for e in store.get_executions_by_context(run.id)}
    assert set(by_task) == {"", "a", "bad"}, "the root DAG and the two tasks that started"
    assert by_task[""].type == "system.DAGExecution"
    assert mlmd.STATE_NAMES[by_task[""].last_known_state] == "FAILED"
    cached = by_task["a"]
    assert mlmd.STATE_NAMES[cached.last_known_state] == "CACHED"
    original = store.get_executions_by_id([int(mlmd.custom_value(cached, "cached_execution_id"))])[0]
    assert mlmd.custom_value(original, "task_name") == "a"
    outputs = [e.artifact_id for e in store.get_events_by_execution_ids([cached.id, original.id])
               if e.type == e.OUTPUT]
    assert len(outputs) == 2 and len(set(outputs)) == 1, "the cached task's output is the artifact it reused"
    assert store.get_artifacts_by_id(outputs[:1])[0].type == "system.Dataset"
    listed = subprocess.run(cli("lineage", "runs", "--json", "--store", str(store_path)), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60)
    rows = {row["run_id"]: row for row in json.loads(listed.stdout)}
    assert rows["two"]["status"] == "failed at bad" and rows["one"]["status"] == "failed at bad"
    why = subprocess.run(cli("why", "two", "--store", str(store_path)), cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert "the input is hostile" in why.stdout
