"""Bad input data: every defect is stopped with a message naming file, line or column.

File-level defects are caught by the pre-flight check before TensorFlow is
imported; distribution defects by TFDV against the curated schema, at the
validation gate. The generator in data/ writes each defect into a small file.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from data.checks import DataError, check_csv_files, load_schema, numeric_columns
from data.generator import DEFECTS, GeneratorSpec, generate, load_source
from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.unit
SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
REQUIRED = ["fare", "trip_miles", "trip_seconds", "payment_type", "company", "tips"]
PREFLIGHT = {
    "missing_column": "missing required column(s): company",
    "bad_number": "line 2, column fare: 'twelve' is not a number",
    "extra_field": "line 302: 19 fields, but the header has 18",
    "empty_file": "the file is empty",
    "not_utf8": "line 302: bytes that are not UTF-8",
}
GATE = {
    "new_category": ("payment_type", "Unexpected string values"),
    "out_of_domain": ("trip_start_hour", "Out-of-range values"),
    "mostly_empty": ("company", "Column dropped"),
}


@pytest.fixture(scope="module")
def source():
    return load_source()


def _defective(tmp_path, source, defect: str):
    return generate(GeneratorSpec(rows=300, seed=5, defects=(defect,)), tmp_path / defect, source)


def test_every_defect_is_covered_by_one_check_or_the_other():
    assert set(PREFLIGHT) | set(GATE) == set(DEFECTS)


def test_clean_generated_data_passes_the_preflight_check(tmp_path, source):
    path = generate(GeneratorSpec(rows=300, seed=5), tmp_path, source)
    reports = check_csv_files([path], REQUIRED, numeric_columns(load_schema(SCHEMA)))
    assert reports[0].rows == 300 and reports[0].problems == []


@pytest.mark.parametrize("defect", sorted(PREFLIGHT))
def test_file_defects_are_named_with_file_line_and_column(defect, tmp_path, source):
    path = _defective(tmp_path, source, defect)
    with pytest.raises(DataError) as caught:
        check_csv_files([path], REQUIRED, numeric_columns(load_schema(SCHEMA)))
    assert f"{path}: {PREFLIGHT[defect]}" in str(caught.value)


def test_run_stops_on_a_bad_file_before_importing_tensorflow(tmp_path, source):
    path = _defective(tmp_path, source, "bad_number")
    started = time.perf_counter()
    result = subprocess.run(cli("run", "--data", str(path), "--output", str(tmp_path / "out")),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "line 2, column fare: 'twelve' is not a number" in result.stdout
    assert "Nothing ran; nothing was pushed." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "out" / "serving").exists()


@pytest.mark.parametrize("defect", sorted(GATE))
def test_distribution_defects_are_stopped_by_the_gate(defect, tmp_path, source):
    import tensorflow_data_validation as tfdv
    from tfx.types import standard_artifacts

    from components.validation_gate.executor import DataValidationError, Executor
    from components.validation_gate.spec import ValidationReport

    path = _defective(tmp_path, source, defect)
    statistics = tfdv.generate_statistics_from_csv(str(path))
    anomalies = tfdv.validate_statistics(statistics, tfdv.load_schema_text(str(SCHEMA)))
    split = tmp_path / "anomalies" / "Split-train"
    split.mkdir(parents=True)
    (split / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    anomalies_artifact = standard_artifacts.ExampleAnomalies()
    anomalies_artifact.uri = str(tmp_path / "anomalies")
    anomalies_artifact.split_names = json.dumps(["train"])
    report = ValidationReport()
    report.uri = str(tmp_path / "report")
    os.makedirs(report.uri)
    feature, description = GATE[defect]
    with pytest.raises(DataValidationError) as caught:
        Executor().Do({"anomalies": [anomalies_artifact]}, {"report": [report]},
                      {"fail_on": json.dumps(["ERROR"])})
    assert f"[train] {feature}: {description}" in str(caught.value)
