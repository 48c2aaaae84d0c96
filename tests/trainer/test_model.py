"""The Keras model builds from the configured features and outputs probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from configs.settings import DEFAULT_CONFIG, load_config

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def built():
    from trainer.features import feature_spec_from_config
    from trainer.model import ModelHyperparameters, build_model

    config = load_config(DEFAULT_CONFIG, check_paths=False)
    spec = feature_spec_from_config({"features": config.features.model_dump()})
    vocabulary = {column: 7 for column in spec.string_categorical}
    sizes = spec.categorical_sizes(vocabulary)
    hparams = ModelHyperparameters(hidden_units=(16, 8), embedding_dim=4, dropout=0.1,
                                   learning_rate=0.01)
    return spec, sizes, build_model(spec, sizes, hparams)


def _batch(spec, sizes, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch = {f"{c}_xf": rng.normal(size=rows).astype("float32") for c in spec.numeric}
    batch.update({name: rng.integers(0, size, rows).astype("int64") for name, size in sizes.items()})
    return batch


def test_every_declared_feature_is_a_model_input(built):
    spec, _, model = built
    assert sorted(model.input.keys()) == sorted(f"{c}_xf" for c in spec.raw_columns())


def test_categorical_sizes_leave_room_for_missing_and_unknown_values(built):
    spec, sizes, _ = built
    assert sizes["trip_start_hour_xf"] == spec.integer_categorical["trip_start_hour"] + 1
    assert sizes["pickup_latitude_xf"] == spec.bucketized["pickup_latitude"] + 1
    assert sizes["payment_type_xf"] == 7 + 1  # vocabulary + one out-of-vocabulary id


def test_outputs_one_probability_per_example(built):
    spec, sizes, model = built
    probabilities = np.asarray(model(_batch(spec, sizes, rows=5)))
    assert probabilities.shape == (5, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_a_few_steps_reduce_the_loss_on_a_learnable_signal(built):
    spec, sizes, model = built
    batch = _batch(spec, sizes, rows=256, seed=1)
    labels = (batch["fare_xf"] > 0).astype("float32")
    before = model.evaluate(batch, labels, verbose=0, return_dict=True)["loss"]
    model.fit(batch, labels, epochs=20, batch_size=64, verbose=0)
    after = model.evaluate(batch, labels, verbose=0, return_dict=True)["loss"]
    assert after < before * 0.7


def test_the_first_training_step_is_traced_once(built):
    """Adam's slots exist before fit: a step creating variables is traced twice by tf.function."""
    import tensorflow as tf

    spec, sizes, _ = built
    from trainer.model import ModelHyperparameters, build_model

    model = build_model(spec, sizes, ModelHyperparameters(hidden_units=(8,), embedding_dim=2,
                                                          dropout=0.0, learning_rate=0.01))
    created_while_tracing = []

    def creator(next_creator, **kwargs):
        if not tf.executing_eagerly():
            created_while_tracing.append(kwargs.get("name"))
        return next_creator(**kwargs)

    batch = _batch(spec, sizes, rows=64, seed=2)
    labels = (batch["fare_xf"] > 0).astype("float32")
    with tf.variable_creator_scope(creator):
        model.fit(batch, labels, epochs=1, batch_size=32, verbose=0)
    assert model.optimizer.variables
    assert created_while_tracing == []
