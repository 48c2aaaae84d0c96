"""The whole pipeline through `python -m pipeline run`, on 3,000 real taxi rows.

Runs twice into one output folder: the first run trains, blesses and pushes;
the second, with nothing changed, must reuse the cached results.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, read_taxi_rows, serialized_examples

pytestmark = pytest.mark.e2e

SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
COMPONENTS = [
    "CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Verdict", "Pusher",
]
# Components whose work depends only on the data, the schema and the code.
DATA_AND_TRAINING = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                     "ValidationGate", "Transform", "Trainer"]
# The e2e test checks plumbing, not model quality, so the bounds are loose.
RUN_OVERRIDES = [
    "--set", "training.epochs=4",
    "--set", "evaluation.thresholds=[{metric: auc, lower_bound: 0.8}, "
             "{metric: binary_accuracy, lower_bound: 0.8}]",
]


def _run(data: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli("run", "--data", str(data), "--output", str(output), *RUN_OVERRIDES),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )


def _store(output: Path):
    return mlmd.open_store(mlmd.sqlite_connection(output / "metadata.sqlite", read_only=True))


def _executions_by_component(store, run) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in mlmd.component_executions(store, run):
        grouped.setdefault(item.component, []).append(item)
    return grouped


@pytest.fixture(scope="module")
def runs(taxi_sample_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("e2e_output")
    first = _run(taxi_sample_dir, output)
    assert first.returncode == 0, first.stdout + first.stderr
    artifacts_after_first = {a.id for a in _store(output).get_artifacts()}
    second = _run(taxi_sample_dir, output)
    assert second.returncode == 0, second.stdout + second.stderr
    return output, first, second, artifacts_after_first


def test_every_component_completes_once_in_the_first_run(runs):
    output, *_ = runs
    store = _store(output)
    first_run = mlmd.pipeline_runs(store)[-1]
    grouped = _executions_by_component(store, first_run)
    assert sorted(grouped) == sorted(COMPONENTS)
    for component in COMPONENTS:
        states = [item.state for item in grouped[component]]
        assert states == ["COMPLETE"], f"{component}: {states}"


def test_summary_reports_progress_verdict_and_push_on_one_screen(runs):
    output, first, *_ = runs
    text = first.stdout
    for component in COMPONENTS:
        assert f"✔ {component}" in text
    assert "Anomalies   none" in text
    assert "BLESSED (no baseline yet)" in text
    assert f"Pushed      {output / 'serving'}" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) <= 50


def test_pushed_model_scores_serialized_raw_examples(runs):
    import tensorflow as tf

    output, *_ = runs
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


def test_second_run_reuses_cached_data_and_training_results(runs):
    output, _, second, artifacts_after_first = runs
    store = _store(output)
    latest = mlmd.pipeline_runs(store)[0]
    grouped = _executions_by_component(store, latest)
    for component in DATA_AND_TRAINING:
        assert [item.state for item in grouped[component]] == ["CACHED"], component
    produced = mlmd.output_artifacts(
        store, [item.execution.id for c in DATA_AND_TRAINING for item in grouped[c]]
    )
    assert produced and {a.id for a in produced} <= artifacts_after_first
    assert "cached" in second.stdout
