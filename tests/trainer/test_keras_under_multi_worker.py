"""Why the workers train with tf-keras: Keras 3 cannot `fit` under MultiWorkerMirroredStrategy here.

The minimal case of docs/scaling.md, run for real: two worker processes on
loopback, a two-layer model on random data. If a Keras 3 release fixes it,
the first test fails, and trainer/keras_choice.py can drop tf-keras.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from trainer.workers import choose_ports, tf_config

pytestmark = pytest.mark.e2e

PROGRAM = textwrap.dedent("""
    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    keras = tf.keras
    x = tf.random.stateless_normal((256, 4), seed=(1, 2))
    y = tf.cast(tf.reduce_sum(x, 1) > 0, tf.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).repeat()
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy")
    model.fit(data, epochs=2, steps_per_epoch=4, verbose=0)
    print("trained with", keras.__name__)
""")


def fit_on_two_workers(legacy: bool) -> list[subprocess.CompletedProcess]:
    ports = choose_ports(2, 0)
    env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = "1"
    workers = [subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**env, "TF_CONFIG": tf_config(ports, index)}) for index in range(2)]
    results = []
    for worker in workers:
        try:
            # The peer of a failed chief may wait for it for good: it gets a shorter time.
            stdout, stderr = worker.communicate(timeout=180 if not results else 30)
        except subprocess.TimeoutExpired:
            worker.kill()
            stdout, stderr = worker.communicate()
        results.append(subprocess.CompletedProcess(worker.args, worker.returncode, stdout, stderr))
    return results

def test_keras_3_fails_in_its_first_step():
    chief, _ = fit_on_two_workers(legacy=False)
    assert chief.returncode != 0
    assert "ValueError: Attempt to convert a value (PerReplica:" in chief.stderr


def test_tf_keras_trains():
    for worker in fit_on_two_workers(legacy=True):
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert "trained with tf_keras" in worker.stdout
