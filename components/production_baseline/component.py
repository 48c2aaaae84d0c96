"""ProductionBaseline: the Evaluator's baseline without a Resolver node.

Open-source Kubeflow Pipelines has no executor for TFX Resolver nodes, so the
Kubeflow variant cannot ask MLMD for the last blessed model. The model in
production is known another way: it is the newest version folder in the
Pusher's serving directory. This component copies that SavedModel into a
Model artifact for the Evaluator, so the baseline is what is actually served,
even after the pipeline root that produced it was cleaned up.

Before the first push there is nothing in production. The Evaluator's
baseline input cannot be left empty on Kubeflow (every wired input gets an
artifact), so the candidate itself stands in, marked with the custom property
``stands_in_for_candidate = 1``; its change thresholds then compare the model
with itself and pass, and the Verdict reports "no baseline yet".
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.production_baseline import executor
from components.production_baseline.spec import ProductionBaselineSpec


class ProductionBaseline(base_component.BaseComponent):
    """Copies the model currently in production (or the candidate, before any push).

    Args:
      model: the candidate model (Trainer output).
      serving_dir: the VersionedPusher's destination folder (local or object storage).
    """

    SPEC_CLASS = ProductionBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, serving_dir: str):
        spec = ProductionBaselineSpec(
            model=model,
            serving_dir=serving_dir,
            baseline_model=types.Channel(type=standard_artifacts.Model),
        )
        super().__init__(spec=spec)
