"""Generated CSV files against the pre-flight check and predict's input reader (hypothesis).

Every file is either accepted or refused with a DataError that names the file
and, for a problem in a row, its line (and column, for a cell); nothing else
may be raised. A file the check accepts must then be read by the reader that
ExampleGen and `predict` use (`read_as_strings`), with the same number of
rows: the check may never let through what the reader chokes on.

The CI share runs FUZZ_CSV_EXAMPLES files (default 600); `make fuzz` runs 10,000.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.checks import check_csv_files
from data.errors import DataError

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("FUZZ_CSV_EXAMPLES", "600"))
COLUMNS = ("fare", "trip_seconds", "company", "payment_type")
NUMERIC = {"fare": float, "trip_seconds": int}
REQUIRED = ["fare", "company"]
NON_EMPTY = ("fare",)
# A problem that concerns the whole file, not one row: these need no line number.
FILE_LEVEL = ("the file is empty", "no header row", "missing required column", "a header but no data rows",
              "its header differs")
LINE = re.compile(r"\bline \d+\b")

EDGE_NUMBERS = ["0", "-0", "1", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                "-9223372036854775809", "3.4028234663852886e38", "3.5e38", "-3.5e38", "1e-45", "1e-400",
                "nan", "NaN", "inf", "-inf", "+1", " 1", "1 ", "1_000", "1e5", ".5", "5.", "-.5e-3", "0x10",
                "١٢", "1,5", "", "12.5"]
ODD_TEXT = ["", "Cash", '"quoted"', 'say "hi"', "a,b", "line\nbreak", "cr\rret", "tab\there", "\x00",
            "nul\x00inside", "ü", "😀", "\ufeffbom", "x" * 70_000, " ", "\\", "'", "=1+1"]


def cell() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(EDGE_NUMBERS), st.sampled_from(ODD_TEXT),
                     st.text(max_size=12), st.integers().map(str), st.floats().map(repr))


def plausible(column: str) -> st.SearchStrategy[str]:
    if NUMERIC.get(column) is int:
        return st.one_of(st.integers(-(2**63), 2**63 - 1).map(str), st.sampled_from(["", "0", "-7"]))
    if NUMERIC.get(column) is float:
        return st.one_of(st.floats(-3e38, 3e38, allow_nan=False).map(repr), st.sampled_from(["1", "0.5"]))
    return st.one_of(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                             max_size=8), st.sampled_from(["Cash", "Credit Card", "a,b", 'say "hi"']))


def quoted(value: str, mode: str) -> str:
    if mode == "always" or (mode == "needed" and any(c in value for c in ',"\r\n')):
        return '"' + value.replace('"', '""') + '"'
    return value  # "never": a cell with a comma or quote becomes a malformed row


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.one_of(
        st.permutations(COLUMNS).map(list),
        st.lists(st.sampled_from([*COLUMNS, "tips", "", "fare"]), min_size=0, max_size=6),
    ))
    if draw(st.booleans()):  # rows of plausible values, some at the edges of their types
        rows = draw(st.lists(st.tuples(*(plausible(column) for column in header)).map(list), max_size=6))
    else:
        rows = draw(st.lists(st.lists(cell(), min_size=max(0, len(header) - 1), max_size=len(header) + 1),
                             max_size=6))
    mode = draw(st.sampled_from(["needed", "always", "never"]))
    endings = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r", "\n\n"]), min_size=1, max_size=3))
    lines = [",".join(quoted(value, mode) for value in line) for line in [header, *rows]]
    text = "".join(line + endings[index % len(endings)] for index, line in enumerate(lines))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no newline at the end
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    content = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:  # a stray byte somewhere
        at = draw(st.integers(0, len(content)))
        content = content[:at] + draw(st.sampled_from([b"\xff", b"\x00", b"\xc3", b"\x80"])) + content[at:]
    return content


def refused_properly(error: DataError, path: Path) -> None:
    message = str(error)
    problems = [line.strip() for line in message.splitlines()[1:]]
    assert problems, message
    for problem in problems:
        assert problem.startswith(f"{path}: "), problem
        what = problem[len(f"{path}: "):]
        assert LINE.search(what) or what.startswith(FILE_LEVEL) or what == "(further problems not listed)", \
            f"a problem without its line: {problem!r}"
        if "column " in what and LINE.search(what):
            assert re.search(r"line \d+, column \w+", what), problem


def check_one(content: bytes, non_empty: tuple[str, ...]) -> str:
    from components.span_example_gen.arrow_csv import read_as_strings

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trips.csv"
        path.write_bytes(content)
        try:
            [report] = check_csv_files([path], REQUIRED, NUMERIC, non_empty=non_empty)
        except DataError as error:
            refused_properly(error, path)
            return "refused"
        table = read_as_strings(str(path), report.header)
        assert table.num_rows == report.rows, (report.rows, table.num_rows)
        return "accepted"


FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ_SETTINGS
@given(csv_files())
def test_the_pre_flight_check_accepts_or_names_line_and_column(content):
    check_one(content, ())


@FUZZ_SETTINGS
@given(csv_files())
def test_predicts_input_check_accepts_what_its_reader_reads(content):
    check_one(content, NON_EMPTY)


def test_the_generator_makes_both_kinds_of_file():
    """A fuzzer that only ever produced broken files would prove nothing about accepted ones."""
    outcomes = set()

    # Derandomized: the same 200 files every run, so that the check cannot flake
    # (unseeded, one CI run drew 200 refused files).
    @settings(max_examples=200, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(csv_files())
    def sample(content):
        outcomes.add(check_one(content, ()))

    sample()
    assert outcomes == {"accepted", "refused"}
