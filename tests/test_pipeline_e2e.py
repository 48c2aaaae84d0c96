"""The whole pipeline through `python -m pipeline run`, on 3,000 real taxi rows.

Runs twice into one output folder: the first run trains, blesses and pushes;
the second, with nothing changed, must reuse the cached results.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from pipeline import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, read_taxi_rows, serialized_examples, store_of

pytestmark = pytest.mark.e2e

SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
COMPONENTS = [
    "CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Verdict", "Pusher",
]
# Components whose work depends only on the data, the schema and the code.
DATA_AND_TRAINING = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                     "ValidationGate", "Transform", "Trainer"]


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
    assert f"Pushed      {output / 'serving'}" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) <= 50


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
    output, _, second, artifacts_after_first = pipeline_runs
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
