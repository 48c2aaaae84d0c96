"""Stops the pipeline when ExampleValidator found anomalies of a blocking severity.

ExampleValidator only records anomalies; Transform and Trainer would go on with
bad data. The gate fails its own execution instead, which stops every component
downstream of it, on the local runner and on Kubeflow alike.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.validation_gate.anomalies import (
    ANOMALIES_FILE,
    REPORT_FILE,
    STATISTICS_FILE,
    AnomalyRow,
    anomaly_rows,
)
from components.validation_gate.drift import drift_anomalies, drift_rows


class DataValidationError(RuntimeError):
    """The data broke the schema; the message lists every blocking anomaly."""


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        fail_on = set(json.loads(exec_properties["fail_on"]))
        anomalies_artifact = artifact_utils.get_single_instance(input_dict["anomalies"])
        rows = read_anomalies(anomalies_artifact)
        reference_file = exec_properties.get("reference_file") or None
        previous = input_dict.get("previous_statistics") or read_reference(reference_file)
        drift_checked = bool(input_dict.get("statistics") and input_dict.get("schema") and previous)
        if drift_checked:
            rows.extend(read_drift({**input_dict, "previous_statistics": previous}))
        blocking = [row for row in rows if row.severity in fail_on]
        report = {
            "passed": not blocking,
            "drift_checked": drift_checked,
            "compared_with": artifact_utils.get_single_uri(previous) if drift_checked else None,
            "fail_on": sorted(fail_on),
            "anomalies": [row.as_dict() for row in rows],
        }
        report_artifact = artifact_utils.get_single_instance(output_dict["report"])
        io_utils.write_string_file(
            os.path.join(report_artifact.uri, REPORT_FILE), json.dumps(report, indent=2)
        )
        report_artifact.set_int_custom_property("anomaly_count", len(rows))
        report_artifact.set_int_custom_property("passed", int(not blocking))
        if blocking:
            raise DataValidationError(describe_blocking(blocking))
        accept_statistics(input_dict.get("statistics"), output_dict.get("accepted_statistics"))
        if reference_file and input_dict.get("statistics"):
            accepted = artifact_utils.get_single_instance(output_dict["accepted_statistics"])
            write_reference(reference_file, accepted)


def read_reference(reference_file: str | None) -> list[types.Artifact] | None:
    """The statistics a reference file names, as an artifact list; None when there are none yet."""
    if not reference_file or not fileio.exists(reference_file):
        return None
    try:
        record = json.loads(io_utils.read_string_file(reference_file))
        uri, split_names = record["uri"], record["split_names"]
    except (ValueError, KeyError) as error:
        raise DataValidationError(f"{reference_file}: not a statistics reference ({error}); "
                                  "delete it to skip the drift check once") from None
    if not fileio.exists(uri):
        raise DataValidationError(f"{reference_file} names statistics at {uri}, which no longer exist; "
                                  "delete the reference file to skip the drift check once")
    previous = standard_artifacts.ExampleStatistics()
    previous.uri = uri
    previous.split_names = split_names
    return [previous]


def write_reference(reference_file: str, accepted: types.Artifact) -> None:
    """Points the reference file at the statistics just accepted (write, then rename over)."""
    record = json.dumps({"uri": accepted.uri, "split_names": accepted.split_names})
    partial = f"{reference_file}.partial"
    io_utils.write_string_file(partial, record)
    fileio.rename(partial, reference_file, overwrite=True)


def read_anomalies(artifact: types.Artifact) -> list[AnomalyRow]:
    rows = []
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(path))
        rows.extend(anomaly_rows(anomalies, split))
    return rows


def accept_statistics(statistics: list[types.Artifact] | None, accepted: list[types.Artifact] | None) -> None:
    """Copies the validated statistics into the gate's output, for the next run's drift check."""
    if not accepted:
        return
    target = artifact_utils.get_single_instance(accepted)
    if not statistics:
        target.split_names = artifact_utils.encode_split_names([])
        return
    source = artifact_utils.get_single_instance(statistics)
    io_utils.copy_dir(source.uri, target.uri)
    target.split_names = source.split_names
    target.span = source.span


def read_drift(input_dict: dict[str, list[types.Artifact]]) -> list[AnomalyRow]:
    """Drift rows per split shared by this run's and the previous run's statistics."""
    import tensorflow_data_validation as tfdv

    current = artifact_utils.get_single_instance(input_dict["statistics"])
    previous = artifact_utils.get_single_instance(input_dict["previous_statistics"])
    schema_dir = artifact_utils.get_single_uri(input_dict["schema"])
    schema = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema_dir))
    previous_splits = set(artifact_utils.decode_split_names(previous.split_names))
    rows = []
    for split in artifact_utils.decode_split_names(current.split_names):
        if split not in previous_splits:
            continue
        this_run, last_run = _load_statistics(current, split), _load_statistics(previous, split)
        rows.extend(drift_rows(drift_anomalies(this_run, last_run, schema), split))
    return rows


def _load_statistics(artifact: types.Artifact, split: str):
    import tensorflow_data_validation as tfdv

    path = os.path.join(artifact_utils.get_split_uri([artifact], split), STATISTICS_FILE)
    return tfdv.load_stats_binary(path)


def describe_blocking(rows: list[AnomalyRow]) -> str:
    lines = [f"data validation failed: {len(rows)} blocking anomal{'y' if len(rows) == 1 else 'ies'}"]
    lines.extend("  " + row.one_line() for row in rows)
    lines.append("Nothing downstream ran: no training, no push. Fix the data or review the schema.")
    return "\n".join(lines)
