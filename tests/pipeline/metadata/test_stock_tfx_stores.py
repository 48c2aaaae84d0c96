"""Every read command and the report on a store that plain TFX pipelines wrote (tests/stock_tfx).

The four pipelines (blessed, not blessed, no Evaluator, Trainer fails) run
once per session, in a fresh process, into one SQLite store. What the commands
say is checked against what the store and TFMA's own loaders hold, and every
command runs where importing TensorFlow or TFX fails (the tripwire).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, tensorflow_tripwire
from tests.pipeline.metadata.edges import assert_every_edge_is_recorded, walk
from tests.stock_tfx.pipelines import (
    BLESSED,
    BLESSED_AUC_BOUND,
    IMPOSSIBLE_AUC_BOUND,
    KFP,
    NO_EVALUATOR,
    NOT_BLESSED,
    PIPELINES,
    SECOND_RUN_STEPS,
    STORE_FILE,
    TRAINER_FAILS,
)

pytestmark = pytest.mark.e2e
TRAINED = (BLESSED, NOT_BLESSED, NO_EVALUATOR)


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """(root, store path): the four stock pipelines, run once."""
    root = tmp_path_factory.mktemp("stock_tfx")
    result = subprocess.run([sys.executable, "-m", "tests.stock_tfx.pipelines", str(root)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    outcomes = {item["pipeline"]: item["error"] for item in lines}
    assert set(outcomes) == set(PIPELINES) and len(lines) == len(PIPELINES) + 1  # the blessed one twice
    assert outcomes[TRAINER_FAILS]
    assert all(outcomes[name] is None for name in PIPELINES if name != TRAINER_FAILS)
    return root, root / STORE_FILE


@pytest.fixture(scope="module")
def tripwire_env(tmp_path_factory):
    return tensorflow_tripwire(tmp_path_factory.mktemp("stock_tripwire"))


def command(stock, tripwire_env, *arguments: str, pipeline: str | None = None, code: int = 0) -> str:
    extra = ["--pipeline", pipeline] if pipeline else []
    result = subprocess.run(cli(*arguments, "--store", str(stock[1]), *extra), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, env=tripwire_env.env)
    assert result.returncode == code, result.stdout + result.stderr
    assert tripwire_env.tripped is None, f"{arguments} imported {tripwire_env.tripped}"
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def as_json(stock, tripwire_env, *arguments: str, pipeline: str):
    return json.loads(command(stock, tripwire_env, *arguments, "--json", pipeline=pipeline))


def evaluator_output(store_path, pipeline: str, type_name: str):
    """What the Evaluator of the pipeline's newest run output, of one type, read straight from MLMD."""
    store = mlmd.open_store(mlmd.connection_from_url(str(store_path)))
    run = mlmd.pipeline_runs(store, pipeline)[0]
    executions = [e for e in store.get_executions_by_context(run.id) if e.type.endswith(".Evaluator")]
    if not executions:
        return None
    (artifact,) = mlmd.artifacts_of_type(mlmd.output_artifacts(store, [executions[0].id]), type_name)
    return artifact


def recorded_blessing(store_path, pipeline: str) -> int | None:
    """The `blessed` custom property of the Evaluator's ModelBlessing."""
    blessing = evaluator_output(store_path, pipeline, "ModelBlessing")
    return None if blessing is None else int(mlmd.custom_value(blessing, "blessed"))


def tfma_loaded(stock, pipeline: str, uri=None):
    """(metrics by slice, validation result) of the newest run's ModelEvaluation, read by TFMA itself."""
    import tensorflow_model_analysis as tfma

    from components.verdict.verdict import describe_slice

    uri = uri or evaluator_output(stock[1], pipeline, "ModelEvaluation").uri
    metrics = {}
    for per_slice in tfma.load_metrics(str(uri)):
        for item in per_slice.metric_keys_and_values:
            # The candidate's own values: with a baseline, TFMA also writes the baseline's and the diffs.
            if item.key.is_diff or item.key.model_name not in ("", "candidate"):
                continue
            metrics.setdefault(describe_slice(per_slice.slice_key), {})[item.key.name] = \
                item.value.double_value.value
    return metrics, tfma.load_validation_result(str(uri))


# --- several pipelines in one store --------------------------------------------------

READ_COMMANDS = [["lineage", "runs"], ["lineage", "show"], ["lineage", "trace", "latest"],
                 ["lineage", "graph", "--output", "g.dot"], ["why"], ["models"],
                 ["report", "--output", "r.html"]]


@pytest.mark.parametrize("arguments", READ_COMMANDS)
def test_each_command_names_the_pipelines_when_the_store_holds_several(stock, tripwire_env, arguments):
    out = command(stock, tripwire_env, *arguments, code=2)
    last = out.strip().splitlines()[-1]
    assert "holds 4 pipelines" in last and "--pipeline NAME" in last
    assert all(name in last for name in PIPELINES)
    unknown = command(stock, tripwire_env, *arguments, pipeline="nope", code=2)
    assert "--pipeline nope: no such pipeline" in unknown and BLESSED in unknown


def test_runs_are_those_of_the_named_pipeline_only(stock, tripwire_env):
    seen = []
    for name in PIPELINES:
        rows = as_json(stock, tripwire_env, "lineage", "runs", pipeline=name)
        assert len(rows) == (2 if name == BLESSED else 1)
        seen += [row["run_id"] for row in rows]
    assert len(set(seen)) == 5


# --- blessing and metrics from the stock Evaluator ------------------------------------

@pytest.mark.parametrize("pipeline", [BLESSED, NOT_BLESSED])
def test_blessing_and_checks_come_from_the_evaluator_and_tfma(stock, tripwire_env, pipeline):
    recorded = recorded_blessing(stock[1], pipeline)
    metrics, validation = tfma_loaded(stock, pipeline)
    row = as_json(stock, tripwire_env, "lineage", "runs", pipeline=pipeline)[0]
    assert row["blessed"] is bool(recorded) and row["blessed"] is (pipeline == BLESSED)
    why = as_json(stock, tripwire_env, "why", pipeline=pipeline)
    verdict = why["verdict"]
    assert verdict["decided_by"] == "Evaluator" and verdict["blessed"] is bool(recorded)
    # Metrics by slice: the same as TFMA's own loader reads.
    for slice_name, values in verdict["slices"].items():
        for metric, value in values.items():
            assert value == pytest.approx(metrics[slice_name][metric]), (slice_name, metric)
    assert set(verdict["slices"]) == set(metrics) and len(metrics) >= 3
    # The blessed pipeline's second run had the first run's model as its baseline.
    assert verdict["has_baseline"] is (pipeline == BLESSED)
    if pipeline == BLESSED:
        assert verdict["baseline_slices"]["Overall"]["auc"] == pytest.approx(
            tfma_baseline_auc(stock, pipeline))
    # Failures: exactly the slices and metrics TFMA's validation result lists.
    tfma_failures = {(s.slice_key.single_slice_keys[0].column if s.slice_key.single_slice_keys else "Overall",
                      f.metric_key.name) for s in validation.metric_validations_per_slice for f in s.failures}
    ours = {(c["slice"].split("=")[0], c["metric"]) for c in verdict["checks"] if not c["passed"]}
    assert ours == tfma_failures and validation.validation_ok is (pipeline == BLESSED)
    # Passes: the bare accuracy threshold on every slice, the AUC bound on Overall only.
    passed = {(c["slice"], c["metric"]) for c in verdict["checks"] if c["passed"]}
    assert {(name, "binary_accuracy") for name in metrics} <= passed
    assert ("Overall", "auc") in passed or pipeline == NOT_BLESSED
    assert not any(metric == "auc" and name != "Overall" for name, metric in passed)
    text = command(stock, tripwire_env, "why", pipeline=pipeline)
    head = "BLESSED" if pipeline == BLESSED else "NOT BLESSED"
    against = "with a baseline" if pipeline == BLESSED else "no baseline"
    assert f"  {head} (by the Evaluator's TFMA thresholds, {against})" in text
    bound = BLESSED_AUC_BOUND if pipeline == BLESSED else IMPOSSIBLE_AUC_BOUND
    status = "PASS" if pipeline == BLESSED else "FAIL"
    assert re.search(rf"{status} Overall auc \d\.\d{{4}} >= {bound:.4f}", text), text
    assert "PASS payment_type=Cash binary_accuracy" in text


def test_models_lists_the_stock_pushers_version_with_the_evaluators_metrics(stock, tripwire_env):
    metrics, _ = tfma_loaded(stock, BLESSED)
    models = as_json(stock, tripwire_env, "models", pipeline=BLESSED)
    pushed = sorted(path.name for path in (stock[0] / "serving" / BLESSED).iterdir())
    assert sorted(model["version"] for model in models) == pushed and len(pushed) == 2
    model = models[0]  # the newest
    assert model["auc"] == pytest.approx(metrics["Overall"]["auc"])
    assert model["binary_accuracy"] == pytest.approx(metrics["Overall"]["binary_accuracy"])
    assert model["metrics_missing"] is None
    table = command(stock, tripwire_env, "models", pipeline=BLESSED)
    assert f"{metrics['Overall']['auc']:.4f}" in table and " - " not in table
    for name in (NOT_BLESSED, NO_EVALUATOR, TRAINER_FAILS):
        assert as_json(stock, tripwire_env, "models", pipeline=name) == []


def test_without_an_evaluator_or_past_a_failure_they_say_what_is_missing(stock, tripwire_env):
    (row,) = as_json(stock, tripwire_env, "lineage", "runs", pipeline=NO_EVALUATOR)
    assert row["status"] == "complete" and row["blessed"] is None
    assert "no Evaluator" in row["no_verdict"]
    assert "- (no Evaluator)" in command(stock, tripwire_env, "lineage", "runs", pipeline=NO_EVALUATOR)
    why = command(stock, tripwire_env, "why", pipeline=NO_EVALUATOR)
    assert "No verdict: the run has no Evaluator" in why
    (row,) = as_json(stock, tripwire_env, "lineage", "runs", pipeline=TRAINER_FAILS)
    assert row["status"] == "failed at Trainer" and row["no_verdict"].startswith("it stopped at Trainer")
    assert "No verdict: it stopped at Trainer" in command(stock, tripwire_env, "why", pipeline=TRAINER_FAILS)


def test_show_states_the_decision_and_metrics(stock, tripwire_env):
    metrics, _ = tfma_loaded(stock, BLESSED)
    shown = as_json(stock, tripwire_env, "lineage", "show", pipeline=BLESSED)
    assert shown["blessed"] is True
    assert shown["overall_metrics"]["auc"] == pytest.approx(metrics["Overall"]["auc"])
    assert shown["decision"].startswith("BLESSED by the Evaluator · auc ")
    components = {item["component"] for item in shown["executions"]}
    assert {"CsvExampleGen", "Trainer", "Evaluator", "Pusher", "latest_blessed_model_resolver"} <= components
    text = command(stock, tripwire_env, "lineage", "show", pipeline=NOT_BLESSED)
    assert "Decision: NOT BLESSED by the Evaluator · auc" in text
    assert "Decision: none: the run has no Evaluator" in command(stock, tripwire_env, "lineage", "show",
                                                                 pipeline=NO_EVALUATOR)
    failed = as_json(stock, tripwire_env, "lineage", "show", pipeline=TRAINER_FAILS)
    assert failed["decision"].startswith("none: it stopped at Trainer") and failed["blessed"] is None
    assert {item["component"]: item["state"] for item in failed["executions"]}["Trainer"] == "FAILED"
    # A failed Trainer published nothing: no Model among the run's artifacts.
    assert "Examples" in {a["type"] for a in failed["artifacts"]}
    assert "Model" not in {a["type"] for a in failed["artifacts"]}


def tfma_baseline_auc(stock, pipeline: str) -> float:
    import tensorflow_model_analysis as tfma

    uri = evaluator_output(stock[1], pipeline, "ModelEvaluation").uri
    for per_slice in tfma.load_metrics(uri):
        if not per_slice.slice_key.single_slice_keys:
            for item in per_slice.metric_keys_and_values:
                if item.key.name == "auc" and item.key.model_name == "baseline" and not item.key.is_diff:
                    return item.value.double_value.value
    raise AssertionError("TFMA recorded no baseline AUC")


def test_diff_of_the_two_blessed_runs_shows_the_steps_and_the_metrics(stock, tripwire_env):
    first, second = reversed([row["run_id"] for row in as_json(stock, tripwire_env, "lineage", "runs",
                                                               pipeline=BLESSED)])
    diff = as_json(stock, tripwire_env, "lineage", "diff", first, second, pipeline=BLESSED)
    changes = {(c["section"], c["key"]): (c["before"], c["after"]) for c in diff["changes"]}
    before, after = changes[("properties", "Trainer.train_args")]
    assert '"num_steps": 20' in before and f'"num_steps": {SECOND_RUN_STEPS}' in after
    assert not [key for section, key in changes if section == "data"], "same data in both runs"
    assert ("run", "blessed") not in changes
    metrics, _ = tfma_loaded(stock, BLESSED)
    for (section, key), (_, new) in changes.items():
        if section == "metrics":
            slice_name, metric = key.split(" · ")
            assert new == pytest.approx(metrics[slice_name][metric])


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_graph_draws_every_execution_of_the_run(stock, tripwire_env, tmp_path, pipeline):
    store = mlmd.open_store(mlmd.connection_from_url(str(stock[1])))
    run = mlmd.pipeline_runs(store, pipeline)[0]
    executions = store.get_executions_by_context(run.id)
    graph = as_json(stock, tripwire_env, "lineage", "graph", "--output", str(tmp_path / "g.dot"),
                    pipeline=pipeline)
    assert sorted(name for name in graph["nodes"] if name.startswith("e")) == \
        sorted(f"e{execution.id}" for execution in executions)
    dot = (tmp_path / "g.dot").read_text()
    assert all(mlmd.component_name(store, execution) in dot for execution in executions)


# --- trace direction -------------------------------------------------------------------

@pytest.mark.parametrize("pipeline", PIPELINES)
def test_trace_follows_only_recorded_edges(stock, tripwire_env, pipeline):
    target = "latest-pushed" if pipeline == BLESSED else "latest"
    tree = as_json(stock, tripwire_env, "lineage", "trace", target, pipeline=pipeline)
    assert assert_every_edge_is_recorded(stock[1], tree) >= 3
    for node in walk(tree):
        if node["label"] == "Examples" and not node["seen_before"]:
            assert [child["label"] for child in node["children"]] == ["CsvExampleGen"]
    examples = next(n for n in walk(tree) if n["label"] == "Examples")
    downstream = as_json(stock, tripwire_env, "lineage", "trace", str(examples["id"]), "--downstream",
                         pipeline=pipeline)
    assert assert_every_edge_is_recorded(stock[1], downstream, downstream=True) >= 2
    labels = {node["label"] for node in walk(downstream)}
    assert "StatisticsGen" in labels and "ExampleStatistics" in labels


# --- the report --------------------------------------------------------------------------

def section(page: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert found, name
    return found.group(1)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_report_shows_what_the_stock_components_left(stock, tripwire_env, tmp_path, pipeline):
    path = tmp_path / f"{pipeline}.html"
    command(stock, tripwire_env, "report", "--output", str(path), pipeline=pipeline)
    page = path.read_text()
    training, evaluation, push = section(page, "training"), section(page, "evaluation"), section(page, "push")
    if pipeline in TRAINED:
        model_runs = (stock[0] / "pipeline_root" / pipeline / "Trainer" / "model_run").iterdir()
        assert any(str(path) in training for path in model_runs) and 'id="trainer-outputs"' in training
        # TensorBoard curves from the stock Trainer's logs: two epochs, train and validation.
        assert len(re.findall(r'data-curve="loss/train" data-value="[0-9.]+"', training)) == 2
        assert 'data-curve="AUC/validation"' in training
    else:
        assert "No model was trained in this run: it stopped at Trainer." in training
    if pipeline in (BLESSED, NOT_BLESSED):
        metrics, _ = tfma_loaded(stock, pipeline)
        badge = "BLESSED" if pipeline == BLESSED else "NOT BLESSED"
        assert f'id="verdict">{badge}</span>' in evaluation and "TFMA thresholds" in evaluation
        cell = re.search(r'data-slice="Overall">.*?data-metric="auc" data-value="([0-9.]+)"', evaluation,
                         re.S)
        assert float(cell.group(1)) == pytest.approx(metrics["Overall"]["auc"])
        assert ("Version " in push) is (pipeline == BLESSED)
        assert ("The Evaluator did not bless" in push) is (pipeline == NOT_BLESSED)
    elif pipeline == NO_EVALUATOR:
        assert "No evaluation in this run: the run has no Evaluator" in evaluation
        assert "The run has no Evaluator" in push
    else:
        assert "No evaluation in this run: it stopped at Trainer" in evaluation
        assert "The run stopped at Trainer" in push


# --- a KFP-shaped store (system.PipelineRun contexts, task names, tfx.* types) -------------

@pytest.fixture(scope="module")
def kfp_store(tmp_path_factory):
    """(root, store path): the blessed stock pipeline compiled for KFP and recorded by `run-spec --store`."""
    root = tmp_path_factory.mktemp("stock_kfp")
    spec = root / "spec.yaml"
    compiled = subprocess.run([sys.executable, "-m", "tests.stock_tfx.pipelines", "--compile", str(spec),
                               str(root)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    ran = subprocess.run(cli("run-spec", str(spec), "--root", str(root / "kfp_root"), "--run-id", "kfp-1",
                             "--store", str(root / "kfp.sqlite")),
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    return root, root / "kfp.sqlite"


def test_a_kfp_shaped_store_of_a_stock_pipeline_is_read_the_same_way(kfp_store, tripwire_env, tmp_path):
    store = mlmd.open_store(mlmd.connection_from_url(str(kfp_store[1])))
    assert [c.name for c in store.get_contexts_by_type(mlmd.KFP_PIPELINE_RUN)] == ["kfp-1"]
    (uri,) = [a.uri for a in mlmd.artifacts_by_type(store, "ModelEvaluation")]
    metrics, validation = tfma_loaded(kfp_store, KFP, uri)
    (row,) = as_json(kfp_store, tripwire_env, "lineage", "runs", pipeline=None)
    assert row["run_id"] == "kfp-1" and row["blessed"] is True and validation.validation_ok
    pushed = [path.name for path in (kfp_store[0] / "serving" / KFP).iterdir()]
    assert [row["pushed_version"]] == pushed
    verdict = as_json(kfp_store, tripwire_env, "why", pipeline=None)["verdict"]
    assert verdict["decided_by"] == "Evaluator"
    assert verdict["slices"]["Overall"]["auc"] == pytest.approx(metrics["Overall"]["auc"])
    assert all(check["passed"] for check in verdict["checks"]) and len(verdict["checks"]) == len(metrics) + 1
    (model,) = as_json(kfp_store, tripwire_env, "models", pipeline=None)
    assert model["run_id"] == "kfp-1" and model["auc"] == pytest.approx(metrics["Overall"]["auc"])
    tree = as_json(kfp_store, tripwire_env, "lineage", "trace", "latest-pushed", pipeline=None)
    assert assert_every_edge_is_recorded(kfp_store[1], tree) >= 8
    assert {"Trainer", "Evaluator", "CsvExampleGen"} <= {node["label"] for node in walk(tree)}
    report = tmp_path / "kfp.html"
    command(kfp_store, tripwire_env, "report", "--output", str(report))
    page = report.read_text()
    assert 'id="verdict">BLESSED</span>' in section(page, "evaluation")
    assert len(re.findall(r'data-curve="loss/train" data-value="[0-9.]+"', section(page, "training"))) == 2
