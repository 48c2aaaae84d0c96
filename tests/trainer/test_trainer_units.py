"""Strategy selection and the streaming F1 metric."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.distribution import plan_strategy

pytestmark = pytest.mark.unit

CPUS = ["/device:CPU:0", "/device:CPU:1"]


def test_every_visible_gpu_is_used_when_there_is_one():
    gpus = ["/device:GPU:0", "/device:GPU:1", "/device:GPU:2"]
    plan = plan_strategy(gpus, CPUS, cpu_replicas=2)
    assert plan.kind == "mirrored-gpu" and plan.devices == tuple(gpus)


def test_without_gpus_mirrors_over_the_configured_logical_cpus():
    plan = plan_strategy([], CPUS, cpu_replicas=2)
    assert plan.kind == "mirrored-cpu" and plan.devices == tuple(CPUS)


def test_one_cpu_replica_means_the_default_strategy():
    assert plan_strategy([], CPUS, cpu_replicas=1).kind == "default"


def test_too_few_logical_cpus_falls_back_to_the_default_strategy():
    plan = plan_strategy([], CPUS[:1], cpu_replicas=2)
    assert plan.kind == "default" and plan.devices == (CPUS[0],)


def test_f1_accumulates_across_batches_and_resets_between_epochs():
    from sklearn.metrics import f1_score

    from trainer.metrics import F1Score

    rng = np.random.default_rng(7)
    metric = F1Score()
    for epoch in range(2):
        labels = rng.integers(0, 2, 300)
        scores = np.clip(labels * 0.4 + rng.uniform(0, 0.7, 300), 0, 1)
        metric.reset_state()  # what Keras does at the start of every epoch
        for start in range(0, 300, 64):  # uneven last batch on purpose
            metric.update_state(labels[start:start + 64], scores[start:start + 64])
        expected = f1_score(labels, scores > 0.5)
        assert float(metric.result()) == pytest.approx(expected, abs=1e-6), f"epoch {epoch}"


def test_f1_in_keras_evaluate_equals_sklearn_on_the_same_predictions():
    import keras
    from sklearn.metrics import f1_score

    from trainer.metrics import F1Score

    rng = np.random.default_rng(3)
    features = rng.normal(size=(500, 4)).astype("float32")
    labels = (features[:, 0] + 0.5 * rng.normal(size=500) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[F1Score()])
    model.fit(features, labels, epochs=2, batch_size=50, verbose=0)
    for half in (slice(0, 250), slice(250, 500)):  # two evaluations: the state must reset
        reported = model.evaluate(features[half], labels[half], batch_size=64, verbose=0,
                                  return_dict=True)["f1"]
        predicted = model.predict(features[half], verbose=0)[:, 0] > 0.5
        assert reported == pytest.approx(f1_score(labels[half], predicted), abs=1e-6)


def _interrupted_fit(backup_dir, epochs_done: int = 2, interval_seconds: float = 0.0):
    """A real Keras fit that dies after `epochs_done` epochs, leaving its backups behind."""
    import keras

    from trainer.callbacks import ResumableBackup

    class Killed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == epochs_done - 1:
                raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        _small_model().fit(*_learnable_data(), epochs=5, verbose=0,
                           callbacks=[ResumableBackup(str(backup_dir), interval_seconds), Killed()])


def _small_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


def _learnable_data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 3)).astype("float32")
    return x, (x[:, 0] > 0.5).astype("float32")


def _resumed_epochs(backup_dir) -> list[int]:
    from trainer.callbacks import ResumableBackup

    history = _small_model().fit(*_learnable_data(), epochs=5, verbose=0,
                                 callbacks=[ResumableBackup(str(backup_dir))])
    return history.epoch


def test_training_resumes_after_the_last_saved_epoch(tmp_path):
    _interrupted_fit(tmp_path / "backup")
    assert _resumed_epochs(tmp_path / "backup") == [2, 3, 4]


def test_epochs_shorter_than_the_backup_interval_are_not_backed_up(tmp_path):
    _interrupted_fit(tmp_path / "backup", interval_seconds=3600)
    assert not list((tmp_path / "backup").glob("*.weights.h5")), "no backup within the interval"
    assert _resumed_epochs(tmp_path / "backup") == [0, 1, 2, 3, 4]


def test_a_truncated_backup_falls_back_on_the_previous_epoch(tmp_path):
    backup = tmp_path / "backup"
    _interrupted_fit(backup)
    latest = backup / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:100])  # what a SIGKILL mid-write leaves
    assert _resumed_epochs(backup) == [1, 2, 3, 4]


def test_an_unreadable_backup_never_blocks_training(tmp_path):
    backup = tmp_path / "backup"
    _interrupted_fit(backup)
    for weights in backup.glob("latest.weights.h5*"):
        weights.write_bytes(b"\x89HDF\r\n")
    assert _resumed_epochs(backup) == [0, 1, 2, 3, 4]
    assert not backup.exists(), "the broken backup is discarded, and the finished fit removes its own"


def test_records_are_counted_by_their_framing_as_tf_data_reads_them(tmp_path):
    import tensorflow as tf

    from trainer.tfrecords import count_gzip_records

    sizes = {"a.gz": 0, "b.gz": 1, "c.gz": 2500}
    for name, records in sizes.items():
        with tf.io.TFRecordWriter(str(tmp_path / name), options="GZIP") as writer:
            for index in range(records):
                writer.write(b"x" * (index % 700))  # lengths from 0 up, some over one byte's range
    pattern = str(tmp_path / "*.gz")
    by_tf_data = sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), compression_type="GZIP"))
    assert count_gzip_records(pattern) == by_tf_data == 2501
    assert count_gzip_records([str(tmp_path / "b.gz"), str(tmp_path / "c.gz")]) == 2501
    (tmp_path / "plain.tfrecord").write_bytes(b"")
    assert count_gzip_records(str(tmp_path / "*")) is None  # not all gzipped: tf.data counts them
    # A header cut short is an error, not a short count.
    import gzip

    whole = gzip.decompress((tmp_path / "c.gz").read_bytes())
    (tmp_path / "cut.gz").write_bytes(gzip.compress(whole + b"\x05\x00\x00"))
    with pytest.raises(ValueError, match="cut short after 2500 records"):
        count_gzip_records(str(tmp_path / "cut.gz"))
