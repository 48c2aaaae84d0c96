"""`tuning.enabled`: the TFX Tuner (KerasTuner) before the Trainer, on 3,000 real taxi rows.

A tuned run searches two trials of one epoch; the Trainer must train with the
best trial's values; a forced rerun with nothing changed takes the Tuner from
TFX's cache; `lineage show` and the report list the trials with their scores.
The Kubeflow compile of a tuned config has the Tuner task before the Trainer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from configs.settings import ConfigError, load_config
from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, RUN_OVERRIDES, cli, store_of
from trainer.record import read_training_record, read_tuner_trials

TUNING = [
    "--set", "tuning.enabled=true",
    "--set", "tuning.max_trials=2",
    "--set", "tuning.epochs_per_trial=1",
    "--set", "tuning.search_space={hidden_units: [[32], [64, 32]], learning_rate: [0.003, 0.01], "
             "dropout: [0.1], embedding_dim: [4]}",
]


def run_tuned(data, output, *extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run(cli("run", "--data", str(data), "--output", str(output), *RUN_OVERRIDES,
                                *TUNING, *extra),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tuned(taxi_sample_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("tuned")
    first = run_tuned(taxi_sample_dir, output)
    rerun = run_tuned(taxi_sample_dir, output, "--force")
    store = store_of(output)
    oldest, newest = mlmd.pipeline_runs(store)[-1], mlmd.pipeline_runs(store)[0]
    return output, store, first, rerun, oldest, newest


def _produced(store, run, component: str, type_name: str):
    from pipeline.metadata.outcome import read_outcome

    return read_outcome(store, run).produced(component, type_name)


@pytest.mark.e2e
def test_the_trainer_trains_with_the_best_trial_of_the_search(tuned):
    _, store, first, _, run, _ = tuned
    assert "✔ Tuner" in first.stdout
    (results,) = _produced(store, run, "Tuner", "TunerResults")
    trials = read_tuner_trials(results.uri)
    assert len(trials) == 2 and all(0.0 < trial["score"] <= 1.0 for trial in trials)
    best = trials[0]
    (model_run,) = _produced(store, run, "Trainer", "ModelRun")
    record = read_training_record(model_run.uri)
    assert record["tuned"] is True
    assert record["hyperparameters"]["hidden_units"] == [int(u) for u in best["hidden_units"].split(",")]
    assert record["hyperparameters"]["learning_rate"] == pytest.approx(best["learning_rate"])
    (hyperparameters,) = _produced(store, run, "Tuner", "HyperParameters")
    written = json.loads((Path(hyperparameters.uri) / "best_hyperparameters.txt").read_text())
    assert written["values"]["hidden_units"] == best["hidden_units"]


@pytest.mark.e2e
def test_an_unchanged_rerun_takes_the_tuner_from_the_cache(tuned):
    _, store, _, _, _, newest = tuned
    states = {item.component: item.state for item in mlmd.component_executions(store, newest)}
    assert states["Tuner"] == "CACHED" and states["Trainer"] == "CACHED"


@pytest.mark.e2e
def test_lineage_show_and_the_report_list_the_trials_with_scores(tuned):
    output, store, _, _, run, _ = tuned
    (results,) = _produced(store, run, "Tuner", "TunerResults")
    trials = read_tuner_trials(results.uri)
    shown = subprocess.run(cli("lineage", "show", run.name, "--store", str(output / "metadata.sqlite"),
                               "--json"), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    listed = [artifact for artifact in json.loads(shown.stdout)["artifacts"]
              if artifact["type"] == "TunerResults"]
    assert listed[0]["details"]["trials"].startswith(f"#{trials[0]['trial_id']} {trials[0]['score']:.4f}")
    report = output / "report.html"
    made = subprocess.run(cli("report", run.name, "--output", str(report), "--store",
                              str(output / "metadata.sqlite")),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    html = report.read_text()
    table = html[html.index('<table id="trials">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 3  # header and two trials
    assert f"{trials[0]['score']:.4f}" in table
    assert "(chosen by the Tuner)" in html


@pytest.mark.unit
def test_the_search_space_is_validated_where_the_config_is_loaded():
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(PROJECT_ROOT / "configs/local.yaml", ["tuning.search_space.learning_rate=[]"],
                    check_paths=False)
    with pytest.raises(ConfigError, match="max_trials"):
        load_config(PROJECT_ROOT / "configs/local.yaml", ["tuning.max_trials=0"], check_paths=False)


@pytest.mark.unit
def test_best_hyperparameters_become_training_values():
    from trainer.run import tuned_values

    assert tuned_values(None) == {}
    config = {"space": [], "values": {"hidden_units": "64,32", "learning_rate": 0.01, "tuner/trial_id": "3"}}
    assert tuned_values(config) == {"hidden_units": [64, 32], "learning_rate": 0.01}


@pytest.mark.e2e
def test_a_tuned_pipeline_compiles_for_kubeflow_with_the_tuner_before_the_trainer(tmp_path):
    from pipeline.kubeflow.compile import compile_pipeline

    overrides = ["kubeflow.image=registry.example.com/taxi-tfx:1.0", "tuning.enabled=true"]
    config = load_config(PROJECT_ROOT / "configs/kubeflow.yaml", overrides, check_paths=False)
    spec = yaml.safe_load(compile_pipeline(config, tmp_path / "tuned.yaml").path.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert "Tuner" in tasks["Trainer"]["dependentTasks"]
    assert tasks["Trainer"]["inputs"]["artifacts"]["hyperparameters"]["taskOutputArtifact"]["producerTask"] \
        == "Tuner"
    parameters = tasks["Tuner"]["inputs"]["parameters"]
    tuner_config = json.loads(parameters["custom_config"]["runtimeValue"]["constant"])
    assert tuner_config["tuning"]["search_space"]["embedding_dim"] == [4, 8, 16]
    assert parameters["tuner_fn"]["runtimeValue"]["constant"] == "trainer.tuning.tuner_fn"
