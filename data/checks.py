"""Pre-flight checks of CSV files, before TensorFlow is imported.

CsvExampleGen fails on a malformed file with a Beam stack trace several minutes
into a run. These checks read the files once with Python's csv module and name
the file, the line and the column of every problem they find: an empty file,
bytes that are not UTF-8, a missing required column, a row with the wrong
number of fields, a number that does not parse. Problems of distribution
(unknown categories, values out of their domain, a feature suddenly mostly
empty, drift) are the schema's business: ExampleValidator and the validation
gate stop those.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data.errors import DataError  # noqa: F401  (raised here, caught by the CLI)

MAX_PROBLEMS_PER_FILE = 10


@dataclass
class FileReport:
    path: Path
    rows: int = 0
    problems: list[str] = field(default_factory=list)


def load_schema(path: Path) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    text_format.Parse(path.read_text(encoding="utf-8"), schema)
    return schema


def numeric_columns(schema: schema_pb2.Schema) -> dict[str, type]:
    kinds = {schema_pb2.INT: int, schema_pb2.FLOAT: float}
    return {f.name: kinds[f.type] for f in schema.feature if f.type in kinds}


def check_csv_files(files: list[Path], required: list[str], numeric: dict[str, type]) -> list[FileReport]:
    """Checks every file; raises DataError listing all problems, or returns the reports."""
    if not files:
        raise DataError("no CSV file to read")
    reports = [check_csv_file(path, required, numeric) for path in files]
    problems = [f"{report.path}: {problem}" for report in reports for problem in report.problems]
    if problems:
        raise DataError("the input data cannot be used:\n  " + "\n  ".join(problems))
    return reports


def check_csv_file(path: Path, required: list[str], numeric: dict[str, type]) -> FileReport:
    report = FileReport(path)
    if path.stat().st_size == 0:
        report.problems.append("the file is empty")
        return report
    try:
        with path.open(encoding="utf-8", newline="") as reader:
            _check_rows(csv.reader(reader), report, required, numeric)
    except UnicodeDecodeError:
        report.problems.append(_utf8_problem(path))
    except csv.Error as error:
        report.problems.append(f"not a readable CSV file: {error}")
    return report


def _check_rows(rows, report: FileReport, required: list[str], numeric: dict[str, type]) -> None:
    header = next(rows, None)
    if not header:
        report.problems.append("no header row")
        return
    missing = [column for column in required if column not in header]
    if missing:
        report.problems.append(f"missing required column(s): {', '.join(missing)}")
    positions = {column: index for index, column in enumerate(header) if column in numeric}
    for line, row in enumerate(rows, start=2):
        report.rows += 1
        if len(report.problems) >= MAX_PROBLEMS_PER_FILE:
            report.problems.append("(further problems not listed)")
            return
        if len(row) != len(header):
            report.problems.append(f"line {line}: {len(row)} fields, but the header has {len(header)}")
            continue
        for column, index in positions.items():
            text = row[index]
            if text and not _parses(text, numeric[column]):
                report.problems.append(f"line {line}, column {column}: {text!r} is not a number")
    if report.rows == 0:
        report.problems.append("a header but no data rows")


def _utf8_problem(path: Path) -> str:
    """Locates the first invalid byte (the text reader's offsets are per buffer, not per file)."""
    content = path.read_bytes()
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        return f"line {line}: bytes that are not UTF-8 ({error.reason}); re-save the file as UTF-8"
    return "bytes that are not UTF-8"


def _parses(text: str, kind: type) -> bool:
    try:
        float(text) if kind is float else int(float(text))
    except ValueError:
        return False
    return True
