"""The ValidationGate component: ExampleAnomalies in, pass or stop."""

from __future__ import annotations

import json

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts

from components.validation_gate import executor
from components.validation_gate.spec import ValidationGateSpec, ValidationReport


class ValidationGate(base_component.BaseComponent):
    """Fails the run when the anomalies include a blocking severity.

    Args:
      anomalies: the ExampleValidator output.
      fail_on: anomaly severities that stop the run, e.g. ["ERROR"].
      statistics, schema, previous_statistics: when all three are given, drift
        from the previous statistics is checked with the schema's comparators.
      reference_file: instead of previous_statistics (which needs a Resolver
        node, unavailable on open-source Kubeflow): a JSON file naming the last
        accepted statistics, read before the check and rewritten on a pass.
    """

    SPEC_CLASS = ValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        anomalies: types.BaseChannel,
        fail_on: list[str],
        statistics: types.BaseChannel | None = None,
        schema: types.BaseChannel | None = None,
        previous_statistics: types.BaseChannel | None = None,
        reference_file: str | None = None,
    ):
        spec = ValidationGateSpec(
            anomalies=anomalies,
            statistics=statistics,
            schema=schema,
            previous_statistics=previous_statistics,
            fail_on=json.dumps(sorted(fail_on)),
            reference_file=reference_file,
            report=types.Channel(type=ValidationReport),
            accepted_statistics=types.Channel(type=standard_artifacts.ExampleStatistics),
        )
        super().__init__(spec=spec)
