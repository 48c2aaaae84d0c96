"""The local baseline (ServedModelStrategy) follows the serving folder: pushes and a rollback.

Real pushes (components/versioned_pusher) and a real rollback
(pipeline/serving/rollback) write the folder; the strategy gets TFX Model
artifacts as its channel would bring them.
"""

from __future__ import annotations

import pytest
from tfx.types import standard_artifacts

from components.production_baseline.strategy import MODEL_KEY, ServedModelStrategy
from components.versioned_pusher.push import push_model
from components.versioned_pusher.versions import MODEL_URI
from pipeline.serving.rollback import plan_rollback, publish

pytestmark = pytest.mark.unit


def trained_model(root, name: str):
    """A Model artifact whose folder holds a (tiny) SavedModel file of its own content."""
    model = standard_artifacts.Model()
    model.uri = str(root / name)
    (root / name).mkdir(parents=True)
    (root / name / "saved_model.pb").write_bytes(name.encode() * 10)
    return model


def baseline(serving, models) -> list[str]:
    resolved = ServedModelStrategy(str(serving)).resolve_artifacts(None, {MODEL_KEY: models})
    return [model.uri for model in resolved[MODEL_KEY]]


def test_the_baseline_is_the_model_served_now_even_after_a_rollback(tmp_path):
    serving = tmp_path / "serving"
    first, second = trained_model(tmp_path, "a"), trained_model(tmp_path, "bb")
    models = [first, second]
    assert baseline(serving, models) == [], "nothing served: no baseline"
    clock = iter([100.0, 100.0, 200.0, 200.0])
    push_model(first.uri, str(serving), metadata={MODEL_URI: first.uri}, clock=lambda: next(clock))
    push_model(second.uri, str(serving), metadata={MODEL_URI: second.uri}, clock=lambda: next(clock))
    assert baseline(serving, models) == [second.uri]
    publish(plan_rollback(serving, None, clock=lambda: 300.0), {"reason": "test"})
    assert sorted(p.name for p in serving.iterdir()) == ["100", "200", "300"]
    assert baseline(serving, models) == [first.uri], "the rollback serves the first model again"
    assert baseline(serving, [second]) == [], "a served model that is not the pipeline's is no baseline"
