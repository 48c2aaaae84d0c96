"""The Verdict component: TFMA results in, a readable blessing decision out."""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from components.verdict import executor
from components.verdict.spec import EvaluationVerdict, VerdictSpec


class Verdict(base_component.BaseComponent):
    """Explains the Evaluator's blessing decision.

    Args:
      evaluation: the Evaluator's ModelEvaluation.
      blessing: the Evaluator's ModelBlessing.
      evaluation_config: the evaluation section of the pipeline config.
    """

    SPEC_CLASS = VerdictSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        evaluation: types.BaseChannel,
        blessing: types.BaseChannel,
        evaluation_config: dict[str, Any],
    ):
        spec = VerdictSpec(
            evaluation=evaluation,
            blessing=blessing,
            evaluation_config=json.dumps(evaluation_config, sort_keys=True),
            verdict=types.Channel(type=EvaluationVerdict),
        )
        super().__init__(spec=spec)
