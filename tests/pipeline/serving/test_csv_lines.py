"""Arrow-written CSV rows (pipeline/serving/csv_lines.py) against Python's csv module, byte for byte."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.serving.csv_lines import write_header, write_rows

# Any text but NUL, which the csv module refuses to write without an escape character.
TEXT = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,"\r\n\té€1-.')), max_size=8),
                 st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=4))


def with_csv_module(names: list[str], rows: list[tuple]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(names)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def with_arrow(names: list[str], columns: list[pa.Array]) -> bytes:
    stream = io.BytesIO()
    write_header(stream, names)
    write_rows(stream, columns)
    return stream.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), max_size=20), st.integers(min_value=0, max_value=3))
def test_rows_are_what_the_csv_module_writes(rows, skip):
    names = ["row", "key", "other"]
    numbers = list(range(1, len(rows) + 1))
    columns = [pa.array(numbers, pa.int64()), pa.array([row[0] for row in rows], pa.string()),
               pa.array([row[1] for row in rows], pa.string())]
    # A slice of a longer batch: its offsets do not start at zero.
    sliced = [column[skip:] for column in columns]
    expected = with_csv_module(names, [(n, a, b) for n, (a, b) in zip(numbers, rows, strict=True)][skip:])
    assert with_arrow(names, sliced) == expected


def test_float32_scores_are_written_as_their_shortest_exact_text():
    import numpy as np

    values = np.array([0.1, 0.123456789, 1e-7, 0.99999994], np.float32)
    written = with_arrow(["p"], [pa.array(values)]).decode()
    assert written == "p\r\n0.1\r\n0.12345679\r\n1e-7\r\n0.99999994\r\n"
    assert (np.array([float(line) for line in written.split()[1:]], np.float32) == values).all()
