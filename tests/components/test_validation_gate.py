"""The validation gate stops on real TFDV anomalies and passes clean data."""

from __future__ import annotations

import csv
import json
import os

import pytest

from tests.conftest import PROJECT_ROOT, read_taxi_rows

pytestmark = pytest.mark.unit
SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as writer:
        out = csv.DictWriter(writer, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)


def _run_gate(tmp_path, rows, fail_on=("ERROR",)):
    """TFDV statistics + validation of `rows`, then the gate executor on the result."""
    import tensorflow_data_validation as tfdv
    from tfx.types import standard_artifacts

    from components.validation_gate.executor import REPORT_FILE, Executor
    from components.validation_gate.spec import ValidationReport

    data = tmp_path / "data.csv"
    _write_csv(data, rows)
    statistics = tfdv.generate_statistics_from_csv(str(data))
    anomalies = tfdv.validate_statistics(statistics, tfdv.load_schema_text(str(SCHEMA)))
    anomalies_artifact = standard_artifacts.ExampleAnomalies()
    anomalies_artifact.uri = str(tmp_path / "anomalies")
    anomalies_artifact.split_names = json.dumps(["train"])
    os.makedirs(tmp_path / "anomalies" / "Split-train")
    (tmp_path / "anomalies" / "Split-train" / "SchemaDiff.pb").write_bytes(
        anomalies.SerializeToString()
    )
    report = ValidationReport()
    report.uri = str(tmp_path / "report")
    os.makedirs(report.uri)
    error = None
    try:
        Executor().Do({"anomalies": [anomalies_artifact]}, {"report": [report]},
                      {"fail_on": json.dumps(list(fail_on))})
    except Exception as caught:  # the gate's way of stopping the run
        error = caught
    written = json.loads((tmp_path / "report" / REPORT_FILE).read_text())
    return error, written, report


def test_clean_rows_pass(tmp_path):
    error, report, artifact = _run_gate(tmp_path, read_taxi_rows(200))
    assert error is None
    assert report["passed"] is True and report["anomalies"] == []
    assert artifact.get_int_custom_property("passed") == 1


def test_unknown_payment_type_and_impossible_hour_stop_the_run(tmp_path):
    from components.validation_gate.executor import DataValidationError

    rows = read_taxi_rows(200)
    rows[3]["payment_type"] = "Bitcoin"
    rows[5]["trip_start_hour"] = "25"
    error, report, artifact = _run_gate(tmp_path, rows)
    assert isinstance(error, DataValidationError)
    message = str(error)
    assert "payment_type" in message and "Unexpected string values" in message
    assert "trip_start_hour" in message
    assert "no training, no push" in message
    assert report["passed"] is False
    assert {a["feature"] for a in report["anomalies"]} == {"payment_type", "trip_start_hour"}
    assert artifact.get_int_custom_property("passed") == 0


def test_severities_not_listed_do_not_block(tmp_path):
    rows = read_taxi_rows(200)
    rows[3]["payment_type"] = "Bitcoin"
    error, report, _ = _run_gate(tmp_path, rows, fail_on=())
    assert error is None
    assert report["passed"] is True
    assert [a["feature"] for a in report["anomalies"]] == ["payment_type"]


def _gate_with_reference(tmp_path, name, rows, reference_file):
    """The gate as compiled for Kubeflow: drift against the statistics a reference file names."""
    import shutil

    import tensorflow_data_validation as tfdv
    from tfx.types import standard_artifacts

    from components.validation_gate.executor import Executor
    from components.validation_gate.spec import ValidationReport

    folder = tmp_path / name
    (folder / "anomalies" / "Split-train").mkdir(parents=True)
    (folder / "statistics" / "Split-train").mkdir(parents=True)
    (folder / "schema").mkdir()
    _write_csv(folder / "data.csv", rows)
    statistics = tfdv.generate_statistics_from_csv(str(folder / "data.csv"))
    (folder / "statistics" / "Split-train" / "FeatureStats.pb").write_bytes(statistics.SerializeToString())
    shutil.copy(SCHEMA, folder / "schema" / "schema.pbtxt")
    (folder / "anomalies" / "Split-train" / "SchemaDiff.pb").write_bytes(b"")  # no anomalies
    kinds = {"anomalies": "ExampleAnomalies", "statistics": "ExampleStatistics", "schema": "Schema",
             "accepted_statistics": "ExampleStatistics"}
    artifacts = {key: getattr(standard_artifacts, kind)() for key, kind in kinds.items()}
    for key, artifact in artifacts.items():
        artifact.uri = str(folder / key)
        if key in ("anomalies", "statistics"):
            artifact.split_names = json.dumps(["train"])
    report = ValidationReport()
    report.uri = str(folder / "report")
    Executor().Do(
        {key: [artifacts[key]] for key in ("anomalies", "statistics", "schema")},
        {"report": [report], "accepted_statistics": [artifacts["accepted_statistics"]]},
        {"fail_on": json.dumps(["ERROR"]), "reference_file": str(reference_file)},
    )
    return json.loads((folder / "report" / "validation_report.json").read_text())


def test_without_a_resolver_the_reference_file_carries_drift_from_run_to_run(tmp_path):
    """Kubeflow's gate: the first run sets the reference, a drifted run is stopped and does not move it."""
    from components.validation_gate.executor import DataValidationError

    reference = tmp_path / "state" / "accepted_statistics.json"
    # Every third row each: the file's rows are grouped by place, so contiguous slices of it
    # differ in pickup area as much as real drift would, under the schema's comparators.
    rows = read_taxi_rows(3600)
    clean, later, other = rows[0::3][:400], rows[1::3][:400], rows[2::3][:400]
    first = _gate_with_reference(tmp_path, "first", clean, reference)
    assert first["drift_checked"] is False, "nothing to compare with on the first run"
    assert json.loads(reference.read_text())["uri"] == str(tmp_path / "first" / "accepted_statistics")

    drifted = [dict(row) for row in other]
    for row in drifted[: int(len(drifted) * 0.6)]:
        if row["payment_type"] == "Cash":
            row["payment_type"] = "Credit Card"
    with pytest.raises(DataValidationError, match=r"payment_type: Drift .* L-infinity distance"):
        _gate_with_reference(tmp_path, "drifted", drifted, reference)
    assert json.loads(reference.read_text())["uri"] == str(tmp_path / "first" / "accepted_statistics"), \
        "rejected data never becomes the reference"

    third = _gate_with_reference(tmp_path, "third", later, reference)
    assert third["drift_checked"] is True and third["passed"] is True
    assert third["compared_with"] == str(tmp_path / "first" / "accepted_statistics")
    assert json.loads(reference.read_text())["uri"] == str(tmp_path / "third" / "accepted_statistics")
