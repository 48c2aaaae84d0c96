"""What TFX's stock Evaluator leaves in its ModelEvaluation artifact: metrics and threshold checks by slice.

Read without TensorFlow or TFMA: importing ``tensorflow_model_analysis``, even
for its protos, imports TensorFlow (its package ``__init__`` loads the whole
SDK). The three proto files TFMA writes with are loaded from the descriptors
embedded in TFMA's own generated modules into a private descriptor pool, and
the TFRecord files are read by hand (the format is a length, a checksum and
the bytes). The checksums are not verified: a damaged file fails to parse.

Per slice, a check FAILs when TFMA's validation result lists it, and PASSes
when the slice carries the metric and the threshold applies to it: a bare
``MetricConfig.threshold`` to every slice, a per-slice one to the slices its
specs match. The blessing itself is the Evaluator's ModelBlessing, not this.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from components.verdict.verdict import CHANGE, LOWER_BOUND, UPPER_BOUND, Check, describe_slice

METRICS_PATTERN = "metrics*"
VALIDATIONS_PATTERN = "validations*"
EVAL_CONFIG_FILE = "eval_config.json"
TFMA_PROTOS = ("config_pb2.py", "metrics_for_slice_pb2.py", "validation_result_pb2.py")
# TFX names the candidate this way when the Evaluator has a baseline.
CANDIDATE, BASELINE = "candidate", "baseline"


class EvaluationUnreadable(Exception):
    """A ModelEvaluation folder whose files cannot be read (damaged, or not TFMA's)."""


@dataclass
class Evaluation:
    """The candidate's metrics by slice, the baseline's if there was one, and the threshold checks."""

    slices: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_slices: dict[str, dict[str, float]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    validation_ok: bool | None = None  # None: TFMA wrote no validation result (no thresholds)
    thresholds: int = 0

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


def read_evaluation(uri: str) -> Evaluation | None:
    """The evaluation in a ModelEvaluation folder; None when it holds no metrics file."""
    metrics_files = sorted(glob.glob(os.path.join(uri, METRICS_PATTERN)))
    if not metrics_files:
        return None
    messages = _tfma_messages()
    config = _eval_config(uri, messages)
    candidate, baseline = _model_names(config)
    by_model, diffs = _metrics(metrics_files, messages)
    evaluation = Evaluation(slices=by_model.get(candidate, {}), baseline_slices=by_model.get(baseline, {}))
    failures = _failures(uri, messages, evaluation)
    thresholds = _thresholds(config)
    evaluation.thresholds = len(thresholds)
    for metric, specs, threshold in thresholds:
        for slice_name in _slices_of(evaluation.slices, specs):
            if (slice_name, metric) in failures:
                continue
            evaluation.checks.extend(_passed_checks(slice_name, metric, threshold, evaluation,
                                                    diffs.get(slice_name, {}).get(metric)))
    evaluation.checks = [*failures.values(), *evaluation.checks]
    return evaluation


# --- TFMA's files --------------------------------------------------------------

def tfrecords(path: str):
    """The records of a TFRecord file (uncompressed), as bytes."""
    with open(path, "rb") as reader:
        while header := reader.read(12):
            if len(header) < 12:
                raise EvaluationUnreadable(f"{path}: truncated record header")
            (length,) = struct.unpack("<Q", header[:8])
            data = reader.read(length)
            if len(data) < length or len(reader.read(4)) < 4:
                raise EvaluationUnreadable(f"{path}: truncated record")
            yield data


@lru_cache(maxsize=1)
def _tfma_messages() -> dict:
    """TFMA's message classes by name, from its generated modules' embedded descriptors."""
    import importlib.util

    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    spec = importlib.util.find_spec("tensorflow_model_analysis")  # finds it without running it
    if spec is None or not spec.submodule_search_locations:
        raise EvaluationUnreadable("tensorflow_model_analysis is not installed")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "proto")
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    for name in TFMA_PROTOS:
        pool.AddSerializedFile(_embedded_descriptor(os.path.join(folder, name)))
    factory = message_factory.MessageFactory(pool)
    return {name: factory.GetPrototype(pool.FindMessageTypeByName(f"tensorflow_model_analysis.{name}"))
            for name in ("EvalConfig", "MetricsForSlice", "ValidationResult")}


def _embedded_descriptor(path: str) -> bytes:
    """The serialized FileDescriptorProto a generated ``*_pb2.py`` passes to AddSerializedFile."""
    with open(path, encoding="utf-8") as reader:
        tree = ast.parse(reader.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            return ast.literal_eval(node.args[0])
    raise EvaluationUnreadable(f"{path}: no embedded descriptor")


def _eval_config(uri: str, messages: dict):
    from google.protobuf import json_format

    config = messages["EvalConfig"]()
    path = os.path.join(uri, EVAL_CONFIG_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as reader:
            json_format.ParseDict(json.load(reader).get("evalConfig", {}), config, ignore_unknown_fields=True)
    return config


def _model_names(config) -> tuple[str, str | None]:
    candidate = [spec.name for spec in config.model_specs if not spec.is_baseline]
    baseline = [spec.name for spec in config.model_specs if spec.is_baseline]
    return (candidate[0] if candidate else ""), (baseline[0] if baseline else None)


def _metrics(paths: list[str], messages: dict):
    """(model -> slice -> metric -> value, slice -> metric -> candidate minus baseline)."""
    by_model: dict[str, dict[str, dict[str, float]]] = {}
    diffs: dict[str, dict[str, float]] = {}
    for path in paths:
        for record in tfrecords(path):
            metrics = messages["MetricsForSlice"].FromString(record)
            slice_name = describe_slice(metrics.slice_key)
            for item in metrics.metric_keys_and_values:
                key, value = item.key, item.value
                if not value.HasField("double_value") or key.HasField("sub_key"):
                    continue
                if key.is_diff:
                    diffs.setdefault(slice_name, {})[key.name] = value.double_value.value
                else:
                    by_model.setdefault(key.model_name, {}).setdefault(slice_name, {})[key.name] = \
                        value.double_value.value
    return by_model, diffs


def _failures(uri: str, messages: dict, evaluation: Evaluation) -> dict[tuple[str, str], Check]:
    paths = sorted(glob.glob(os.path.join(uri, VALIDATIONS_PATTERN)))
    failures: dict[tuple[str, str], Check] = {}
    for path in paths:
        records = [messages["ValidationResult"].FromString(record) for record in tfrecords(path)] \
            if path.endswith(".tfrecord") or "-of-" in path else []
        for result in records:
            evaluation.validation_ok = bool(result.validation_ok) and evaluation.validation_ok is not False
            for per_slice in result.metric_validations_per_slice:
                slice_name = describe_slice(per_slice.slice_key)
                for failure in per_slice.failures:
                    value = failure.metric_value.double_value.value \
                        if failure.metric_value.HasField("double_value") else None
                    check = _failed_check(slice_name, failure.metric_key.name, failure.metric_threshold,
                                          value, evaluation)
                    failures[(slice_name, failure.metric_key.name)] = check
    return failures


# --- thresholds ------------------------------------------------------------------

def _thresholds(config) -> list[tuple[str, list | None, object]]:
    """(metric, slicing specs or None for every slice, MetricThreshold) for each configured threshold."""
    found = []
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            name = _metric_name(metric)
            if metric.HasField("threshold"):
                found.append((name, None, metric.threshold))
            for per_slice in metric.per_slice_thresholds:
                found.append((name, list(per_slice.slicing_specs), per_slice.threshold))
        for name, threshold in spec.thresholds.items():
            found.append((name, None, threshold))
        for name, per_slice_list in spec.per_slice_thresholds.items():
            for per_slice in per_slice_list.thresholds:
                found.append((name, list(per_slice.slicing_specs), per_slice.threshold))
    return found


def _metric_name(metric) -> str:
    """TFMA's metric name from a MetricConfig: its config's name, else the class's snake_case name."""
    if metric.config:
        try:
            name = json.loads(metric.config).get("name")
        except ValueError:
            name = None
        if name:
            return name
    return "".join(f"_{c.lower()}" if c.isupper() and i and not metric.class_name[i - 1].isupper()
                   else c.lower() for i, c in enumerate(metric.class_name))


def _slices_of(slices: dict[str, dict], specs: list | None):
    """The evaluated slices a threshold applies to: all of them, or those its specs match."""
    for slice_name in slices:
        columns = {} if slice_name == "Overall" else \
            dict(part.split("=", 1) for part in slice_name.split(", "))
        if specs is None or any(_matches(spec, columns) for spec in specs):
            yield slice_name


def _matches(spec, columns: dict[str, str]) -> bool:
    wanted = set(spec.feature_keys) | set(spec.feature_values)
    return wanted == set(columns) and all(columns[key] == value for key, value in spec.feature_values.items())


def _passed_checks(slice_name, metric, threshold, evaluation: Evaluation, diff: float | None) -> list[Check]:
    value = evaluation.slices.get(slice_name, {}).get(metric)
    if value is None:
        return []
    checks = []
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound"):
        checks.append(Check(slice_name, metric, LOWER_BOUND, value, bounds.lower_bound.value, True))
    if bounds.HasField("upper_bound"):
        checks.append(Check(slice_name, metric, UPPER_BOUND, value, bounds.upper_bound.value, True))
    change = threshold.change_threshold
    if change.HasField("absolute") and diff is not None:
        baseline = evaluation.baseline_slices.get(slice_name, {}).get(metric)
        checks.append(Check(slice_name, metric, CHANGE, value, change.absolute.value, True, baseline))
    return checks


def _failed_check(slice_name, metric, threshold, value, evaluation: Evaluation) -> Check:
    bounds, change = threshold.value_threshold, threshold.change_threshold
    candidate = evaluation.slices.get(slice_name, {}).get(metric)
    if change.HasField("absolute") or change.HasField("relative"):
        bound = change.absolute.value if change.HasField("absolute") else change.relative.value
        baseline = evaluation.baseline_slices.get(slice_name, {}).get(metric)
        return Check(slice_name, metric, CHANGE, candidate, bound, False, baseline)
    if bounds.HasField("lower_bound") and (value is None or value < bounds.lower_bound.value):
        return Check(slice_name, metric, LOWER_BOUND, value, bounds.lower_bound.value, False)
    bound = bounds.upper_bound.value if bounds.HasField("upper_bound") else float("nan")
    return Check(slice_name, metric, UPPER_BOUND, value, bound, False)
