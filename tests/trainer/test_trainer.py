"""The real run_fn on Transform outputs of a real pipeline run (3,000 taxi rows).

Each scenario runs trainer.standalone in its own process, so that the
MirroredStrategy gets its two logical CPU devices before TensorFlow starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT, read_taxi_rows, serialized_examples

pytestmark = pytest.mark.e2e
SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
# Early stopping would make the epoch counts below depend on the data.
NO_EARLY_STOP = ["--set", "training.early_stopping_patience=100"]
# Below the sample's ~2,000 training rows, so the cap decides the epoch length.
EPOCH_CAP = 1500


def harness(pipeline_root, work_dir, *arguments: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "trainer.standalone", str(pipeline_root), str(work_dir), *arguments],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pipeline_root(pipeline_runs):
    return pipeline_runs[0] / "pipeline_root"


@pytest.fixture(scope="module")
def two_replica_training(pipeline_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("trainer_two_replicas")
    outcome = harness(pipeline_root, work, "--set", "training.epochs=3", "--set",
                      "training.cpu_replicas=2", "--set", f"training.max_examples_per_epoch={EPOCH_CAP}",
                      *NO_EARLY_STOP)
    assert "record" in outcome, outcome
    return outcome


def test_mirrored_strategy_runs_on_two_cpu_replicas_with_a_doubled_global_batch(two_replica_training):
    record = two_replica_training["record"]
    assert record["strategy"] == "mirrored-cpu"
    assert record["replicas"] == 2 and len(record["devices"]) == 2
    assert record["global_batch_size"] == 2 * record["batch_size_per_replica"]
    assert record["train_examples"] > EPOCH_CAP
    assert record["steps_per_epoch"] == -(-EPOCH_CAP // record["global_batch_size"])
    # The config asks for several steps per execution; Keras 3 cannot run them on two replicas.
    assert record["steps_per_execution"] == 1
    losses = record["history"]["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0] * 0.8


def test_tensorboard_logs_hold_step_and_epoch_scalars(two_replica_training):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for split in ("train", "validation"):
        events = EventAccumulator(os.path.join(two_replica_training["model_run_dir"], split))
        events.Reload()
        tags[split] = set(events.Tags()["tensors"])
    for metric in ("loss", "auc", "precision", "recall", "f1"):
        assert f"epoch_{metric}" in tags["train"] and f"epoch_{metric}" in tags["validation"]
        assert f"batch_{metric}" in tags["train"]
    assert "epoch_learning_rate" in tags["train"]


def test_serving_signature_matches_the_keras_model_on_transformed_rows(two_replica_training):
    import keras
    import tensorflow as tf
    import tensorflow_transform as tft

    import trainer.metrics  # noqa: F401  (registers F1Score, which model.keras refers to)

    rows = read_taxi_rows(32, start=12000)
    examples = tf.constant(serialized_examples(rows, SCHEMA, drop=("tips",)))
    served = tf.saved_model.load(two_replica_training["serving_model_dir"])
    from_signature = served.signatures["serving_default"](examples=examples)["probabilities"].numpy()

    tft_output = tft.TFTransformOutput(two_replica_training["transform_graph"])
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != "tips"}
    # The layer, not transform_raw_features: Transform writes a TF1 graph (force_tf_compat_v1), which
    # transform_raw_features applies in graph mode only.
    transformed = tft_output.transform_features_layer()(tf.io.parse_example(examples, raw_spec))
    model = keras.saving.load_model(os.path.join(two_replica_training["model_run_dir"], "model.keras"))
    from_keras = np.asarray(model({name: transformed[name] for name in model.input}))
    np.testing.assert_allclose(from_signature, from_keras, atol=1e-5)
    # serving_columns: the same rows as columns and presence masks, no tf.Example.
    from trainer.export import COLUMNS_SIGNATURE

    from_columns = served.signatures[COLUMNS_SIGNATURE](**column_feed(rows, raw_spec))["probabilities"]
    np.testing.assert_allclose(from_columns.numpy(), from_signature, atol=1e-6)
    assert any(not row["company"] for row in rows), "the rows should hold missing cells"


def column_feed(rows: list[dict[str, str]], raw_spec: dict) -> dict:
    """What serving_columns takes for CSV rows: each column typed, and its presence mask."""
    from trainer.export import PRESENT_PREFIX

    feed = {}
    for name, spec in raw_spec.items():
        cells = [row.get(name, "") for row in rows]
        kind = spec.dtype.as_numpy_dtype
        feed[name] = np.array([cell.encode() if spec.dtype.name == "string" else kind(float(cell or 0))
                               for cell in cells], object if spec.dtype.name == "string" else kind)
        feed[PRESENT_PREFIX + name] = np.array([cell != "" for cell in cells])
    return feed


def test_diverging_training_stops_with_a_clear_error_and_exports_nothing(pipeline_root, tmp_path):
    outcome = harness(pipeline_root, tmp_path, "--set", "training.learning_rate=10000")
    assert outcome["error"] == "TrainingDivergedError"
    assert "training diverged" in outcome["message"]
    assert "lower training.learning_rate" in outcome["message"]
    assert not (tmp_path / "serving_model").exists()


def test_interrupted_training_resumes_from_its_last_epoch(pipeline_root, tmp_path):
    arguments = ["--set", "training.epochs=4", "--set", "training.cpu_replicas=1", *NO_EARLY_STOP,
                 "--set", "training.backup_interval_seconds=0"]
    crashed = harness(pipeline_root, tmp_path, *arguments, "--interrupt-after-epochs", "2")
    assert crashed["message"] == "interrupted after epoch 2"
    assert any((tmp_path / "backups").iterdir()), "BackupAndRestore left no backup"

    resumed = harness(pipeline_root, tmp_path, *arguments)["record"]
    assert resumed["resumed_from_backup"] is True
    assert resumed["first_epoch"] == 2 and resumed["epochs_run"] == 2
    assert not any((tmp_path / "backups").iterdir()), "the backup must go once training completes"


READ_VALIDATION_TWICE = """
import json, sys
from configs.settings import load_config
from trainer.run import load_training_data
from trainer.standalone import fn_args_for

config = load_config(None, ["training.max_validation_examples=300"], check_paths=False)
fn_args, _ = fn_args_for(sys.argv[1], sys.argv[2], config)
data = load_training_data(fn_args, config.training.model_dump(), global_batch=128)
# Bounded: an endless dataset must show itself as more batches, not hang the test.
passes = [[labels.numpy().tolist() for _, labels in data.eval_dataset.take(data.validation_steps + 5)]
          for _ in range(2)]
print(json.dumps({"steps": data.validation_steps, "batches": [len(one) for one in passes],
                  "same": passes[0] == passes[1]}))
"""


def test_validation_reads_the_same_validation_steps_batches_every_epoch(pipeline_root, tmp_path):
    result = subprocess.run([sys.executable, "-c", READ_VALIDATION_TWICE, str(pipeline_root), str(tmp_path)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["steps"] == 3  # ceil(300 / 128)
    assert read["batches"] == [3, 3]
    assert read["same"] is True
