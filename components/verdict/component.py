"""The Verdict component: TFMA results in, a readable blessing decision out."""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.verdict import executor
from components.verdict.spec import EvaluationVerdict, VerdictSpec


class Verdict(base_component.BaseComponent):
    """The release gate: the Evaluator's decision plus per-slice bounds, explained.

    Args:
      model: the candidate model.
      evaluation: the Evaluator's ModelEvaluation.
      evaluator_blessing: the Evaluator's ModelBlessing.
      evaluation_config: the evaluation section of the pipeline config.
      baseline_model: the Evaluator's baseline, when it came from a ProductionBaseline.
    """

    SPEC_CLASS = VerdictSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        evaluation: types.BaseChannel,
        evaluator_blessing: types.BaseChannel,
        evaluation_config: dict[str, Any],
        baseline_model: types.BaseChannel | None = None,
    ):
        spec = VerdictSpec(
            model=model,
            evaluation=evaluation,
            evaluator_blessing=evaluator_blessing,
            baseline_model=baseline_model,
            evaluation_config=json.dumps(evaluation_config, sort_keys=True),
            verdict=types.Channel(type=EvaluationVerdict),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
