"""The ValidationGate component: ExampleAnomalies in, pass or stop."""

from __future__ import annotations

import json

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec

from components.validation_gate import executor
from components.validation_gate.spec import ValidationGateSpec, ValidationReport


class ValidationGate(base_component.BaseComponent):
    """Fails the run when the anomalies include a blocking severity.

    Args:
      anomalies: the ExampleValidator output.
      fail_on: anomaly severities that stop the run, e.g. ["ERROR"].
    """

    SPEC_CLASS = ValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, anomalies: types.BaseChannel, fail_on: list[str]):
        spec = ValidationGateSpec(
            anomalies=anomalies,
            fail_on=json.dumps(sorted(fail_on)),
            report=types.Channel(type=ValidationReport),
        )
        super().__init__(spec=spec)
