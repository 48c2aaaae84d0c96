"""Writes the verdict file (VERDICT_FILE) and records headline metrics on the verdict artifact."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.artifact_types import STANDS_IN_FOR_CANDIDATE
from components.verdict.verdict import OVERALL, VERDICT_FILE, build_verdict, describe_slice

CANDIDATE = "candidate"
BASELINE = "baseline"
HEADLINE_METRICS = ("auc", "binary_accuracy", "precision", "recall", "example_count")


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        evaluation = json.loads(exec_properties["evaluation_config"])
        evaluation_uri = artifact_utils.get_single_uri(input_dict["evaluation"])
        evaluator_blessing = artifact_utils.get_single_instance(input_dict["evaluator_blessing"])
        per_model = metrics_by_model(evaluation_uri)
        if candidate_stands_in(input_dict.get("baseline_model")):
            per_model.pop(BASELINE, None)
        verdict = build_verdict(
            evaluation,
            candidate=per_model.get(CANDIDATE) or per_model.get("", {}),
            baseline=per_model.get(BASELINE, {}),
            tfma_blessed=bool(evaluator_blessing.get_int_custom_property("blessed")),
        )
        write_blessing(
            artifact_utils.get_single_instance(output_dict["blessing"]),
            artifact_utils.get_single_instance(input_dict["model"]),
            verdict.blessed,
        )
        artifact = artifact_utils.get_single_instance(output_dict["verdict"])
        io_utils.write_string_file(
            os.path.join(artifact.uri, VERDICT_FILE), json.dumps(verdict.as_dict(), indent=2)
        )
        artifact.set_int_custom_property("blessed", int(verdict.blessed))
        overall = verdict.slices.get(OVERALL, {})
        for name in HEADLINE_METRICS:
            # NaN (e.g. precision with no predicted positives) is left out: MLMD's
            # PostgreSQL backend cannot store it.
            if name in overall and math.isfinite(overall[name]):
                artifact.set_float_custom_property(name, overall[name])
        failed = [check.one_line() for check in verdict.checks if not check.passed]
        artifact.set_string_custom_property("failed_checks", "\n".join(failed))


def candidate_stands_in(baseline: list[types.Artifact] | None) -> bool:
    """True when the baseline is a copy of the candidate (nothing in production yet)."""
    return bool(baseline) and bool(
        artifact_utils.get_single_instance(baseline).get_int_custom_property(STANDS_IN_FOR_CANDIDATE))


def metrics_by_model(evaluation_uri: str) -> dict[str, dict[str, dict[str, float]]]:
    """model name -> slice name -> metric -> value, from TFMA's metrics file."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        slice_name = describe_slice(metrics_for_slice.slice_key)
        for item in metrics_for_slice.metric_keys_and_values:
            key, value = item.key, item.value
            if key.is_diff or not value.HasField("double_value") or key.HasField("sub_key"):
                continue
            by_slice = result.setdefault(key.model_name, {}).setdefault(slice_name, {})
            by_slice[key.name] = value.double_value.value
    return result


def write_blessing(blessing: types.Artifact, model: types.Artifact, blessed: bool) -> None:
    """A ModelBlessing as the Evaluator writes one, so Pusher and resolver read it alike."""
    io_utils.write_string_file(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
