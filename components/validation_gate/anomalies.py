"""Reads TFDV anomalies and the gate's report into plain rows a person can read.

Light on purpose (protobuf only, no TensorFlow): the CLI summary, the report and
the lineage commands use it too, and take the gate's file names from here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from tensorflow_metadata.proto.v0 import anomalies_pb2

ANOMALIES_FILE = "SchemaDiff.pb"
SPLIT_PREFIX = "Split-"
# The gate's findings (ExampleValidator's anomalies and its own drift rows),
# written into its ValidationReport artifact.
REPORT_FILE = "validation_report.json"
# What TFX's StatisticsGen writes per split; the gate and the report read it.
STATISTICS_FILE = "FeatureStats.pb"


@dataclass(frozen=True)
class AnomalyRow:
    split: str
    feature: str
    severity: str
    kinds: tuple[str, ...]
    short_description: str
    description: str

    def as_dict(self) -> dict:
        return {**asdict(self), "kinds": list(self.kinds)}

    def one_line(self) -> str:
        head = f"[{self.split}] {self.feature}: {self.short_description} ({self.severity})"
        return f"{head} — {self.description}"


def anomaly_rows(anomalies: anomalies_pb2.Anomalies, split: str) -> list[AnomalyRow]:
    """One row per anomalous feature (or dataset-level anomaly) of one split."""
    rows = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        rows.append(_row(split, feature, info))
    if anomalies.HasField("dataset_anomaly_info"):
        rows.append(_row(split, "(dataset)", anomalies.dataset_anomaly_info))
    return rows


def _row(split: str, feature: str, info: anomalies_pb2.AnomalyInfo) -> AnomalyRow:
    kinds = tuple(anomalies_pb2.AnomalyInfo.Type.Name(reason.type) for reason in info.reason)
    return AnomalyRow(
        split=split,
        feature=feature,
        severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
        kinds=kinds,
        short_description=info.short_description,
        description=info.description,
    )


def read_local_anomalies(artifact_uri: str) -> list[AnomalyRow]:
    """All anomaly rows of an ExampleAnomalies artifact on the local filesystem."""
    rows = []
    if not os.path.isdir(artifact_uri):
        return rows
    for entry in sorted(os.listdir(artifact_uri)):
        path = os.path.join(artifact_uri, entry, ANOMALIES_FILE)
        if entry.startswith(SPLIT_PREFIX) and os.path.isfile(path):
            anomalies = anomalies_pb2.Anomalies()
            with open(path, "rb") as reader:
                anomalies.ParseFromString(reader.read())
            rows.extend(anomaly_rows(anomalies, entry[len(SPLIT_PREFIX):]))
    return rows


def read_report_rows(report_uri: str) -> list[AnomalyRow]:
    """The rows of a ValidationReport artifact on the local filesystem ([] when absent)."""
    path = os.path.join(report_uri, REPORT_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as reader:
        rows = json.load(reader)["anomalies"]
    return [AnomalyRow(**{**row, "kinds": tuple(row["kinds"])}) for row in rows]
