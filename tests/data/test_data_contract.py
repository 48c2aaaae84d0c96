"""Bad input data: every defect is stopped with a message naming file, line or column.

File-level defects are caught by the pre-flight check before TensorFlow is
imported; distribution defects by TFDV against the curated schema, at the
validation gate. The generator in data/ writes each defect into a small file.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

from data.checks import DataError, check_csv_files, load_schema, numeric_columns
from data.generator import DEFECTS, GeneratorSpec, generate
from data.prepare import load_source
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


def test_run_stops_on_a_bad_file_before_importing_tensorflow(tmp_path, source, tripwire):
    path = _defective(tmp_path, source, "bad_number")
    result = subprocess.run(cli("run", "--data", str(path), "--output", str(tmp_path / "out")),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, env=tripwire.env)
    assert result.returncode == 2
    assert "line 2, column fare: 'twelve' is not a number" in result.stdout
    assert "Nothing ran; nothing was pushed." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert tripwire.tripped is None, f"{tripwire.tripped} was imported before the data error"
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


def _with_cell(path, line: int, column: str, value: str):
    """The CSV with one cell replaced (line counts the header as 1)."""
    import csv

    with path.open(newline="", encoding="utf-8") as reader:
        rows = list(csv.reader(reader))
    rows[line - 1][rows[0].index(column)] = value
    with path.open("w", newline="", encoding="utf-8") as writer:
        csv.writer(writer).writerows(rows)
    return path


# Values that crashed the check (inf in an integer column: OverflowError), or
# that it passed while ExampleGen's Arrow reader types them differently, or
# that would reach the model as NaN or infinity.
HOSTILE_CELLS = {
    "inf_in_integer": ("trip_start_hour", "inf", "is not an integer"),
    "fraction_in_integer": ("trip_start_hour", "1.5", "is not an integer"),
    "underscore_in_integer": ("trip_seconds", "1_000", "no spaces, '_' or leading '+'"),
    "plus_sign": ("trip_start_hour", "+5", "no spaces, '_' or leading '+'"),
    "integer_overflow": ("trip_start_hour", "9223372036854775808", "outside the 64-bit integer range"),
    "nan_in_float": ("fare", "nan", "is NaN"),
    "infinity_in_float": ("fare", "-inf", "not a finite number"),
    "float_overflow": ("fare", "1e999", "not a finite number"),
    "float32_overflow": ("trip_miles", "1e39", "not a finite number"),
    "space_in_float": ("fare", " 12.5", "no spaces"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CELLS))
def test_hostile_numbers_are_named_with_file_line_and_column(case, tmp_path, source):
    column, value, problem = HOSTILE_CELLS[case]
    path = _with_cell(generate(GeneratorSpec(rows=50, seed=5), tmp_path, source), 7, column, value)
    with pytest.raises(DataError) as caught:
        check_csv_files([path], REQUIRED, numeric_columns(load_schema(SCHEMA)))
    assert f"{path}: line 7, column {column}: {value!r} " in str(caught.value)
    assert problem in str(caught.value)


def test_files_whose_headers_differ_are_named(tmp_path, source):
    first = generate(GeneratorSpec(rows=50, seed=5), tmp_path / "a", source)
    second = generate(GeneratorSpec(rows=50, seed=6), tmp_path / "b", source)
    text = second.read_text().splitlines()
    columns = text[0].split(",")
    columns[0], columns[1] = columns[1], columns[0]
    second.write_text("\n".join([",".join(columns), *text[1:]]) + "\n")
    with pytest.raises(DataError) as caught:
        check_csv_files([first, second], REQUIRED, numeric_columns(load_schema(SCHEMA)))
    assert f"{second}: its header differs from that of {first}: the same columns in another order" \
        in str(caught.value)


def test_file_system_oddities_are_named(tmp_path, source):
    good = generate(GeneratorSpec(rows=50, seed=5), tmp_path / "good", source)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "folder.csv").mkdir()
    (folder / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    os.mkfifo(folder / "pipe.csv")  # opening it would block the check forever
    (folder / "linked.csv").symlink_to(good)
    files = sorted(folder.glob("*.csv"))
    with pytest.raises(DataError) as caught:
        check_csv_files(files, REQUIRED, numeric_columns(load_schema(SCHEMA)))
    message = str(caught.value)
    assert f"{folder / 'folder.csv'}: a folder, not a CSV file" in message
    assert f"{folder / 'dangling.csv'}: a link to {tmp_path / 'gone.csv'}, which does not exist" in message
    assert f"{folder / 'pipe.csv'}: not a regular file" in message
    assert str(folder / "linked.csv") not in message, "a link to a good file is read like the file"


def test_the_run_names_what_it_ignores_and_never_shows_a_traceback(tmp_path, source):
    folder = tmp_path / "data"
    generate(GeneratorSpec(rows=50, seed=5), folder, source)
    (folder / "README.txt").write_text("notes")
    _with_cell(folder / "data.csv", 4, "trip_start_hour", "inf")
    result = subprocess.run(cli("run", "--data", str(folder), "--output", str(tmp_path / "out")),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{folder / 'data.csv'}: line 4, column trip_start_hour: 'inf' is not an integer" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out" / "serving").exists()
    assert f"ignored (not .csv): {folder / 'README.txt'}" in result.stdout


@pytest.mark.parametrize(("column", "value"), [("fare", "nan"), ("trip_miles", "inf"), ("tips", "-inf")])
def test_the_curated_schema_itself_forbids_nan_and_infinity_in_model_floats(column, value, tmp_path, source):
    """Beside the pre-flight check: data that reaches TFDV another way is stopped by the schema."""
    import tensorflow_data_validation as tfdv

    path = _with_cell(generate(GeneratorSpec(rows=50, seed=5), tmp_path, source), 9, column, value)
    statistics = tfdv.generate_statistics_from_csv(str(path))
    anomalies = tfdv.validate_statistics(statistics, tfdv.load_schema_text(str(SCHEMA)))
    assert column in anomalies.anomaly_info, dict(anomalies.anomaly_info)
    kinds = {reason.type for reason in anomalies.anomaly_info[column].reason}
    expected = {"nan": "FLOAT_TYPE_HAS_NAN", "inf": "FLOAT_TYPE_HAS_INF", "-inf": "FLOAT_TYPE_HAS_INF"}[value]
    assert {anomalies_pb2.AnomalyInfo.Type.Name(kind) for kind in kinds} >= {expected}


CHECK_AS_NOBODY = """
import os, pwd, sys
from pathlib import Path
from data.checks import DataError, check_csv_files
nobody = pwd.getpwnam("nobody")
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
try:
    check_csv_files([Path(sys.argv[1])], [], {})
except DataError as error:
    print(error)
"""


def test_a_file_this_user_cannot_read_is_named(tmp_path, source):
    if os.geteuid() != 0:
        from tests.conftest import missing_system_package

        missing_system_package("reading as another user needs root (setuid); CI runs as root")
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="taxi-tfx-unreadable-"))
    try:
        os.chmod(folder, 0o755)
        path = generate(GeneratorSpec(rows=20, seed=5), folder, source)
        os.chmod(path, 0o000)
        result = subprocess.run([sys.executable, "-c", CHECK_AS_NOBODY, str(path)], cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=60)
        assert f"{path}: cannot be read: permission denied" in result.stdout, result.stdout + result.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CELL_CASES = {
    # fare (FLOAT) cell -> whether the row-by-row check accepts it
    "12.5": True, "-.5": True, "1e5": True, "5.": True, "1.E-3": True, "": True,
    "nan": False, "inf": False, "1e400": False, "+1": False, " 1": False, "1_0": False, "١": False,
    "0x10": False, "1e": False,
}


@pytest.mark.parametrize("cell", sorted(CELL_CASES))
def test_the_arrow_fast_path_clears_a_file_only_when_the_row_by_row_check_would(cell, tmp_path, source):
    import csv

    from data.checks import check_csv_file, clean_table

    path = generate(GeneratorSpec(rows=50, seed=5), tmp_path, source)
    with path.open(encoding="utf-8", newline="") as reader:
        header, *rows = list(csv.reader(reader))
    rows[6][header.index("fare")] = cell
    with path.open("w", encoding="utf-8", newline="") as writer:
        csv.writer(writer).writerows([header, *rows])
    numeric = numeric_columns(load_schema(SCHEMA))

    table = clean_table(path, REQUIRED, numeric)
    fast = None if table is None else (table.column_names, table.num_rows)
    report = check_csv_file(path, REQUIRED, numeric)
    assert (report.problems == []) is CELL_CASES[cell]
    assert (fast is not None) is CELL_CASES[cell]
    if fast is not None:
        assert fast == (header, 50) and report.rows == 50


def test_a_blank_line_is_left_to_the_row_by_row_check(tmp_path, source):
    from data.checks import check_csv_file, clean_table

    path = generate(GeneratorSpec(rows=50, seed=5), tmp_path, source)
    path.write_text(path.read_text(encoding="utf-8").replace("\n", "\n\n", 3), encoding="utf-8")
    numeric = numeric_columns(load_schema(SCHEMA))
    assert clean_table(path, REQUIRED, numeric) is None
    assert any("0 fields" in problem for problem in check_csv_file(path, REQUIRED, numeric).problems)
