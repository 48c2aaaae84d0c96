"""The whole pipeline through `python -m pipeline run`, on 3,000 real taxi rows.

Runs three times into one output folder: the first run trains, blesses and
pushes; the second (`--force`), with nothing changed, must reuse TFX's cached
results; the third, a plain `run`, must see that nothing changed and run
nothing. Later tests add
runs to the same store (a worse model, a diverging one), so they come last, in
file order.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, read_taxi_rows, serialized_examples, store_of

pytestmark = pytest.mark.e2e

SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
COMPONENTS = [
    "CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "served_model_resolver", "previous_statistics_resolver",
    "Evaluator", "Verdict", "Pusher",
]
# Components whose work depends only on the data, the schema and the code. The
# ValidationGate is not one: on a rerun it checks drift against the statistics
# it accepted last time, a new input, so it runs again (in about a second).
DATA_AND_TRAINING = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                     "Transform", "Trainer"]


def _executions_by_component(store, run) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in mlmd.component_executions(store, run):
        grouped.setdefault(item.component, []).append(item)
    return grouped


def test_every_component_completes_once_in_the_first_run(pipeline_runs):
    output, *_ = pipeline_runs
    store = store_of(output)
    first_run = mlmd.pipeline_runs(store)[-1]
    grouped = _executions_by_component(store, first_run)
    assert sorted(grouped) == sorted(COMPONENTS)
    for component in COMPONENTS:
        states = [item.state for item in grouped[component]]
        assert states == ["COMPLETE"], f"{component}: {states}"


def test_summary_reports_progress_verdict_and_push_on_one_screen(pipeline_runs):
    output, first, *_ = pipeline_runs
    text = first.stdout
    for component in COMPONENTS:
        assert f"✔ {component}" in text
    assert "Anomalies   none" in text
    assert "BLESSED (no baseline yet)" in text
    assert "PASS Overall auc" in text and "PASS Overall binary_accuracy" in text
    assert f"Pushed      {output / 'serving'}" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) <= 50


def test_one_replica_trains_several_steps_per_execution_with_batch_scalars(pipeline_runs):
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from configs.settings import load_config

    output = pipeline_runs[0]
    # Other tests add runs to this store; the first run's Trainer has the lowest execution id.
    model_run = min((output / "pipeline_root" / "Trainer" / "model_run").iterdir(), key=lambda p: int(p.name))
    record = json.loads((model_run / "training_record.json").read_text())
    requested = load_config(None, check_paths=False).training.steps_per_execution
    assert requested > 1 and record["replicas"] == 1
    assert record["steps_per_execution"] == requested
    events = EventAccumulator(str(model_run / "train"))
    events.Reload()
    assert {"batch_loss", "batch_auc", "epoch_loss"} <= set(events.Tags()["tensors"])


def test_pushed_model_scores_serialized_raw_examples(pipeline_runs):
    import tensorflow as tf

    output, *_ = pipeline_runs
    versions = sorted((output / "serving").iterdir())
    assert versions, "nothing was pushed"
    model = tf.saved_model.load(str(versions[0]))
    rows = read_taxi_rows(16, start=14000)  # rows the sample never saw
    examples = serialized_examples(rows, SCHEMA, drop=("tips",))
    probabilities = model.signatures["serving_default"](examples=tf.constant(examples))["probabilities"]
    probabilities = probabilities.numpy()
    assert probabilities.shape == (16, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    cash = [i for i, row in enumerate(rows) if row["payment_type"] == "Cash"]
    card = [i for i, row in enumerate(rows) if row["payment_type"] == "Credit Card"]
    # Cash trips almost never record a tip; a trained model must know that.
    assert cash and card and probabilities[cash].mean() < probabilities[card].mean()


def test_second_run_reuses_cached_data_and_training_results(pipeline_runs):
    output, _, second, artifacts_after_first, _ = pipeline_runs
    store = store_of(output)
    second_run = mlmd.pipeline_runs(store)[-2]
    grouped = _executions_by_component(store, second_run)
    for component in DATA_AND_TRAINING:
        assert [item.state for item in grouped[component]] == ["CACHED"], component
    produced = mlmd.output_artifacts(
        store, [item.execution.id for c in DATA_AND_TRAINING for item in grouped[c]]
    )
    assert produced and {a.id for a in produced} <= artifacts_after_first
    assert "cached" in second.stdout
    # The Evaluator runs again (it now has a baseline), but pushing the same
    # model again must reuse its version instead of adding one.
    first_push, second_push = (
        [a for a in mlmd.output_artifacts(store, [i.execution.id for i in
                                                  _executions_by_component(store, run)["Pusher"]])
         if a.type == "PushedModel"][0]
        for run in (mlmd.pipeline_runs(store)[-1], second_run)
    )
    assert mlmd.custom_value(second_push, "reused_existing_version") == 1
    assert mlmd.custom_value(second_push, "pushed_version") == mlmd.custom_value(first_push, "pushed_version")


def test_an_unchanged_rerun_is_up_to_date_without_loading_tensorflow(pipeline_runs):
    output, _, second, _, unchanged = pipeline_runs
    text = unchanged.result.stdout
    assert unchanged.result.returncode == 0, text + unchanged.result.stderr
    assert unchanged.runs_after == unchanged.runs_before, "an up-to-date rerun records no pipeline run"
    store = store_of(output)
    newest = mlmd.pipeline_runs(store)[-2]  # the forced rerun (later tests add runs)
    assert f"Up to date: run {newest.name}" in text
    assert "loading TensorFlow" not in text and "Nothing ran" in text
    # The outcome it repeats is the forced run's, on one screen.
    assert "BLESSED" in text and f"Pushed      {output / 'serving'}" in text
    assert "run --force" in text
    # What makes it take seconds: TensorFlow and TFX are never imported.
    assert unchanged.tripwire.tripped is None, f"{unchanged.tripwire.tripped} was imported"


def test_up_to_date_needs_the_same_fingerprint_a_finished_run_and_the_same_serving_dir(
        pipeline_runs, taxi_sample_dir, tmp_path):
    import shutil

    from configs.settings import load_config
    from pipeline.run.freshness import FINGERPRINT_KEY, SERVING_KEY, up_to_date_run

    output, *_ = pipeline_runs
    shutil.copy(output / "metadata.sqlite", tmp_path / "metadata.sqlite")
    store = mlmd.open_store(mlmd.sqlite_connection(tmp_path / "metadata.sqlite"))
    config = load_config(PROJECT_ROOT / "configs" / "local.yaml",
                         [f"paths.data={taxi_sample_dir}", f"paths.output={output}"])
    newest = mlmd.pipeline_runs(store)[0]
    fingerprint = newest.custom_properties[FINGERPRINT_KEY].string_value
    assert up_to_date_run(store, config, fingerprint).id == newest.id
    assert up_to_date_run(store, config, "0" * 32) is None
    mlmd.annotate_run(store, newest, {SERVING_KEY: "1"})  # something was pushed or removed since
    assert up_to_date_run(store, config, fingerprint) is None
    mlmd.annotate_run(store, newest, {SERVING_KEY: newest_version(output / "serving"),
                                      "stop_reason": "gate"})
    assert up_to_date_run(store, config, fingerprint) is None


def newest_version(serving) -> str:
    return str(max(int(p.name) for p in serving.iterdir() if p.name.isdigit()))


def test_evaluation_holds_every_configured_slice_including_the_cross(pipeline_runs):
    import json

    output, *_ = pipeline_runs
    verdict_files = sorted((output / "pipeline_root" / "Verdict" / "verdict").glob("*/verdict.json"))
    slices = json.loads(verdict_files[0].read_text())["slices"]
    assert "Overall" in slices
    for prefix in ("payment_type=", "trip_start_hour=", "trip_start_hour_bucket=", "company="):
        assert any(name.startswith(prefix) and "," not in name for name in slices), prefix
    assert {f"trip_start_hour_bucket={b}" for b in range(4)} <= set(slices)
    crosses = [name for name in slices
               if name.startswith("payment_type=") and ", trip_start_hour_bucket=" in name]
    assert crosses
    assert {"example_count", "auc", "binary_accuracy", "mean_label"} <= set(slices[crosses[0]])


def test_prometheus_file_parses_and_matches_tfma(pipeline_runs):
    import tensorflow_model_analysis as tfma
    from prometheus_client.parser import text_string_to_metric_families

    output, *_ = pipeline_runs
    families = {f.name: f for f in text_string_to_metric_families(
        (output / "metrics" / "taxi-tfx.prom").read_text())}
    metric = {(s.labels["slice"], s.labels["metric"]): s.value
              for s in families["taxi_tfx_eval_metric"].samples}
    latest_eval = sorted((output / "pipeline_root" / "Evaluator" / "evaluation").iterdir(),
                         key=lambda p: int(p.name))[-1]
    checked = 0
    for metrics_for_slice in tfma.load_metrics(str(latest_eval)):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue  # the overall slice is enough to tie the two together
        for item in metrics_for_slice.metric_keys_and_values:
            if item.key.model_name in ("", "candidate") and not item.key.is_diff \
                    and item.key.name in ("auc", "binary_accuracy", "example_count"):
                assert metric[("Overall", item.key.name)] == pytest.approx(item.value.double_value.value)
                checked += 1
    assert checked == 3
    assert families["taxi_tfx_blessed"].samples[0].value in (0.0, 1.0)
    assert families["taxi_tfx_anomalies"].samples[0].value == 0
    components = {s.labels["component"] for s in families["taxi_tfx_component_seconds"].samples}
    assert {"Trainer", "Evaluator", "Pusher"} <= components


def test_a_clearly_worse_model_is_not_released_and_why_says_so(pipeline_runs, taxi_sample_dir):
    output, *_ = pipeline_runs
    pushed_before = sorted(p.name for p in (output / "serving").iterdir())
    worse = subprocess.run(
        cli("run", "--data", str(taxi_sample_dir), "--output", str(output),
            "--set", "training.epochs=1", "--set", "training.learning_rate=0.00001",
            # The Evaluator's worker processes, which by default only large inputs get.
            "--set", "component_beam_args.evaluator_from_rows=0"),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert worse.returncode == 0, worse.stdout + worse.stderr
    assert "NOT BLESSED (against the served model)" in worse.stdout
    assert "FAIL Overall auc" in worse.stdout and "vs baseline" in worse.stdout
    assert "Pushed      nothing" in worse.stdout
    assert sorted(p.name for p in (output / "serving").iterdir()) == pushed_before
    # Beam's worker processes log through the job service; in-process runs have no such lines.
    log = max((output / "logs").glob("run-*.log"), key=lambda path: path.stat().st_mtime).read_text()
    assert "local_job_service: Worker" in log, "the Evaluator ran no Beam worker process"
    why = subprocess.run(cli("why", "--store", str(output / "metadata.sqlite")), cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert why.returncode == 0
    assert "NOT BLESSED" in why.stdout and "FAIL Overall auc" in why.stdout


def test_diverging_training_stops_at_the_trainer_and_pushes_nothing(pipeline_runs, taxi_sample_dir):
    output, *_ = pipeline_runs
    pushed_before = sorted(p.name for p in (output / "serving").iterdir())
    result = subprocess.run(
        cli("run", "--data", str(taxi_sample_dir), "--output", str(output),
            "--set", "training.learning_rate=10000"),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 1
    assert "The run stopped at Trainer." in result.stdout
    assert "training diverged" in result.stdout and "training.learning_rate" in result.stdout
    assert "Pushed      nothing" in result.stdout
    assert sorted(p.name for p in (output / "serving").iterdir()) == pushed_before
