"""Pre-flight checks of CSV files, before TensorFlow is imported.

CsvExampleGen fails on a malformed file with a Beam stack trace several minutes
into a run. These checks read the files once (with Arrow when they are clean,
see `clean_table`, else with Python's csv module) and name the file, the
line and the column of every problem they find: a path that is
not a readable regular file, an empty file, bytes that are not UTF-8, a missing
required column, a header that differs from the other files', a row with the
wrong number of fields, and a number that the Arrow reader of ExampleGen would
not read as the schema's type (see `number_problem`). Problems of distribution
(unknown categories, values out of their domain, a feature suddenly mostly
empty, drift) are the schema's business: ExampleValidator and the validation
gate stop those.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.batched_io.threads import coder_threads
from data.errors import DataError  # noqa: F401  (raised here, caught by the CLI)

MAX_PROBLEMS_PER_FILE = 10
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# tf.Example floats are 32-bit: a larger magnitude would become infinity.
FLOAT32_MAX = 3.4028234663852886e38


@dataclass
class FileReport:
    path: Path
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    # With keep_table: the file as Arrow read it, every column text (empty cells ""), when it was clean.
    table: object | None = None


def load_schema(path: Path) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    text_format.Parse(path.read_text(encoding="utf-8"), schema)
    return schema


def numeric_columns(schema: schema_pb2.Schema) -> dict[str, type]:
    kinds = {schema_pb2.INT: int, schema_pb2.FLOAT: float}
    return {f.name: kinds[f.type] for f in schema.feature if f.type in kinds}


def check_csv_files(files: list[Path], required: list[str], numeric: dict[str, type],
                    non_empty: tuple[str, ...] = (), keep_tables: bool = False) -> list[FileReport]:
    """Checks every file; raises DataError listing all problems, or returns the reports.

    `non_empty` columns must hold a value in every row (what a model's serving
    signature parses as a required feature). `keep_tables` keeps what Arrow read
    in the reports, for a caller that reads the rows next (predict).
    """
    if not files:
        raise DataError("no CSV file to read")
    reports = [check_csv_file(path, required, numeric, non_empty, keep_tables) for path in files]
    _check_headers_agree(reports)
    problems = [f"{report.path}: {problem}" for report in reports for problem in report.problems]
    if problems:
        raise DataError("the input data cannot be used:\n  " + "\n  ".join(problems))
    return reports


def _check_headers_agree(reports: list[FileReport]) -> None:
    """ExampleGen reads every file of a run with one set of columns, in one order."""
    readable = [report for report in reports if report.header]
    for report in readable[1:]:
        if report.header != readable[0].header:
            report.problems.append(f"its header differs from that of {readable[0].path}: "
                                   f"{_header_difference(readable[0].header, report.header)}")


def _header_difference(first: list[str], other: list[str]) -> str:
    extra = [column for column in other if column not in first]
    missing = [column for column in first if column not in other]
    if extra or missing:
        return "; ".join(part for part in (f"extra column(s) {', '.join(extra)}" if extra else "",
                                           f"no column(s) {', '.join(missing)}" if missing else "") if part)
    return "the same columns in another order"


def check_csv_file(path: Path, required: list[str], numeric: dict[str, type],
                   non_empty: tuple[str, ...] = (), keep_table: bool = False) -> FileReport:
    report = FileReport(path)
    problem = file_problem(path)
    if problem:
        report.problems.append(problem)
        return report
    table = clean_table(path, required, numeric, non_empty)
    if table is not None:
        report.header, report.rows = table.column_names, table.num_rows
        report.table = table if keep_table else None
        return report
    try:
        with path.open(encoding="utf-8", newline="") as reader:
            rows = csv.reader(reader)
            try:
                _check_rows(rows, report, required, numeric, non_empty)
            except csv.Error as error:  # the line the reader stopped on, counted as the file's lines
                report.problems.append(f"line {max(rows.line_num, 1)}: not readable as CSV: {error}")
    except UnicodeDecodeError:
        report.problems.append(_utf8_problem(path))
    except OSError as error:
        report.problems.append(f"cannot be read: {error.strerror or error}")
    return report


# What `number_problem` accepts, for whole columns at once (RE2: \d is ASCII only).
INT_PATTERN = r"^-?\d+$"
FLOAT_PATTERN = r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
# A blank line, as bytes: found with bytes.find (memchr), which scans 168 MB in
# milliseconds where one regular expression took 0.7 s.
BLANK_LINES = (b"\n\n", b"\n\r\n", b"\r\r")


def clean_table(path: Path, required: list[str], numeric: dict[str, type],
                non_empty: tuple[str, ...] = ()):
    """A file that passes every row check, as Arrow read it (every column text); None if unsure.

    Python's csv module and a check per cell take half a minute on 1,500,000
    rows; Arrow reads the file in C++ and each column is checked whole. Any
    sign of a problem (a parse error, a blank line, a cell the column checks
    reject) returns None, and the row-by-row check then names it.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as arrow_csv

    with path.open(encoding="utf-8", newline="") as reader:
        try:
            header = next(csv.reader(reader), None)
        except (UnicodeDecodeError, csv.Error):
            return None
    if not header or len(set(header)) != len(header) or any(c not in header for c in required):
        return None
    content = path.read_bytes()
    # A blank line is a row of no fields to the csv module, but Arrow reads it as empty cells.
    if any(blank in content for blank in BLANK_LINES):
        return None
    try:
        table = arrow_csv.read_csv(pa.BufferReader(content),
                                   read_options=arrow_csv.ReadOptions(skip_rows=1, column_names=header),
                                   parse_options=arrow_csv.ParseOptions(newlines_in_values=True,
                                                                        ignore_empty_lines=False),
                                   convert_options=arrow_csv.ConvertOptions(
                                       column_types={name: pa.string() for name in header},
                                       strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError):
        return None
    if table.num_rows == 0:
        return None
    for column in non_empty:
        if column in header and pc.any(pc.equal(table[column], "")).as_py():
            return None
    columns = [(table[column], kind) for column, kind in numeric.items() if column in header]
    # Arrow's kernels release the GIL: the columns are checked on a thread per core.
    with ThreadPoolExecutor(coder_threads()) as pool:
        if not all(pool.map(lambda item: _numbers_readable(*item), columns)):
            return None
    return table


def _numbers_readable(column, kind: type) -> bool:
    """Every non-empty cell is a number of the kind that the data reader accepts."""
    import pyarrow.compute as pc

    values = pc.filter(column, pc.not_equal(column, ""))
    pattern = INT_PATTERN if kind is int else FLOAT_PATTERN
    matched = pc.all(pc.match_substring_regex(values, pattern), min_count=0).as_py()
    return bool(matched) and _in_range(values, kind)


def _in_range(values, kind: type) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if kind is int:
            pc.cast(values, pa.int64())  # fails beyond 64 bits
            return True
        magnitudes = pc.abs(pc.cast(values, pa.float64()))
        return len(values) == 0 or pc.max(magnitudes).as_py() <= FLOAT32_MAX
    except pa.ArrowInvalid:
        return False


def file_problem(path: Path) -> str | None:
    """What keeps a path from being read as a CSV file: a dangling link, a folder, a device, no access."""
    if path.is_symlink() and not path.exists():
        return f"a link to {os.readlink(path)}, which does not exist"
    try:
        status = path.stat()
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    if stat.S_ISDIR(status.st_mode):
        return "a folder, not a CSV file (rename it or move it out of the data folder)"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file (a pipe, socket or device)"
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    if status.st_size == 0:
        return "the file is empty"
    return None


def _check_rows(rows, report: FileReport, required: list[str], numeric: dict[str, type],
                non_empty: tuple[str, ...] = ()) -> None:
    header = next(rows, None)
    if not header:
        report.problems.append("no header row")
        return
    report.header = header
    missing = [column for column in required if column not in header]
    if missing:
        report.problems.append(f"missing required column(s): {', '.join(missing)}")
    positions = {column: index for index, column in enumerate(header) if column in numeric}
    needed = {column: index for index, column in enumerate(header) if column in non_empty}
    for line, row in enumerate(rows, start=2):
        report.rows += 1
        if len(report.problems) >= MAX_PROBLEMS_PER_FILE:
            report.problems.append("(further problems not listed)")
            return
        if len(row) != len(header):
            report.problems.append(f"line {line}: {len(row)} fields, but the header has {len(header)}")
            continue
        for column, index in needed.items():
            if not row[index]:
                report.problems.append(f"line {line}, column {column}: empty, but the model needs a value")
        for column, index in positions.items():
            text = row[index]
            problem = number_problem(text, numeric[column]) if text else None
            if problem:
                report.problems.append(f"line {line}, column {column}: {text!r} {problem}")
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


def number_problem(text: str, kind: type) -> str | None:
    """Why a cell of an INT or FLOAT column would not be read as that type, or None.

    The rules are those of ExampleGen's Arrow reader (components/span_example_gen),
    which are stricter than Python's: an integer is ASCII digits with an optional
    leading minus and fits in 64 bits; a float has no sign '+', no '_', no spaces,
    and must be finite and fit in 32 bits, because the model cannot take NaN or
    infinity and tf.Example stores 32-bit floats.
    """
    if not text.isascii() or any(char.isspace() or char == "_" for char in text) or text[0] == "+":
        return "is not a number as the data reader reads numbers (no spaces, '_' or leading '+')"
    if kind is int:
        digits = text[1:] if text[0] == "-" else text
        if not digits.isdigit():
            return "is not an integer, which the schema requires"
        if not INT64_MIN <= int(text) <= INT64_MAX:
            return "is outside the 64-bit integer range"
        return None
    try:
        value = float(text)
    except ValueError:
        return "is not a number"
    if math.isnan(value):
        return "is NaN (not a number); leave the cell empty for a missing value"
    if math.isinf(value) or abs(value) > FLOAT32_MAX:
        return "is not a finite number (infinity, or too large for a 32-bit float)"
    return None
