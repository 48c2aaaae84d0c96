"""CSV files to serialized tf.Examples with Apache Arrow, instead of one Python call per cell.

TFX's CsvExampleGen parses every line and builds every tf.train.Feature in
Python. Here Arrow's C++ CSV reader parses whole files and tfx_bsl's C++
encoder writes the examples; what is left in Python is one parse and one
deterministic serialization per example (see ``serialized_examples``). The
result follows TFX's rules:

- a column is INT when every non-empty cell is an integer, FLOAT when every one
  is a number, BYTES otherwise, decided over all the files of the split;
- an empty cell becomes a feature with an empty value list;
- a column that is empty everywhere becomes a feature with no kind, as TFX's
  own executor writes it;
- embedded newlines in quoted cells are allowed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from tfx_bsl.coders import example_coder

INT, FLOAT, BYTES, EMPTY = "int", "float", "bytes", "empty"
# Rows encoded per call: large enough for C++ speed, small enough to bound memory.
ENCODE_ROWS = 65_536


def read_as_strings(path, column_names: list[str]) -> pa.Table:
    """A CSV file (path or binary stream) with every column as text and empty cells as nulls.

    The header line is skipped: the caller has checked it.
    """
    return arrow_csv.read_csv(
        path,
        read_options=arrow_csv.ReadOptions(skip_rows=1, column_names=column_names),
        parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
        convert_options=arrow_csv.ConvertOptions(
            column_types={name: pa.string() for name in column_names},
            strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=True),
    )


def column_kind(values: pa.ChunkedArray) -> str:
    """INT, FLOAT, BYTES or EMPTY for one column's text values (nulls ignored)."""
    present = values.drop_null()
    if len(present) == 0:
        return EMPTY
    for kind, arrow_type in ((INT, pa.int64()), (FLOAT, pa.float64())):
        try:
            pc.cast(present, arrow_type)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return BYTES


def merge_kinds(first: str, second: str) -> str:
    """The kind that holds both: INT + FLOAT is FLOAT, anything + BYTES is BYTES."""
    order = [EMPTY, INT, FLOAT, BYTES]
    return order[max(order.index(first), order.index(second))]


def infer_kinds(tables: list[pa.Table]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for table in tables:
        for name in table.column_names:
            kinds[name] = merge_kinds(kinds.get(name, EMPTY), column_kind(table[name]))
    return kinds


def as_feature_column(values: pa.Array, kind: str) -> pa.Array:
    """A list column for the encoder: one value per present cell, an empty list per empty one.

    A column empty everywhere is all null lists, which the encoder writes as
    features with no kind, as TFX does.
    """
    if kind == EMPTY:
        return pa.nulls(len(values), pa.large_list(pa.int64()))
    arrow_type = {INT: pa.int64(), FLOAT: pa.float32(), BYTES: pa.binary()}[kind]
    present = pc.cast(values.drop_null(), arrow_type)
    lengths = pc.cast(values.is_valid(), pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths)])
    return pa.LargeListArray.from_arrays(pc.cast(offsets, pa.int64()), present)


def serialized_examples(table: pa.Table, kinds: dict[str, str]) -> Iterator[bytes]:
    """The table's rows as serialized tf.Examples, in file order, each serialized deterministically.

    tfx_bsl's encoder writes a row's features in an order that changes from one
    process to the next. ExampleGen assigns each example to a split by hashing
    its bytes, so they are re-serialized with sorted feature keys: the same
    data then lands in the same splits on every run, and in the ones TFX's own
    CsvExampleGen puts it in (it hashes the same deterministic form).
    """
    from tensorflow.core.example import example_pb2

    encoder = example_coder.RecordBatchToExamplesEncoder()
    for batch in table.combine_chunks().to_batches(max_chunksize=ENCODE_ROWS):
        columns = [as_feature_column(batch.column(name), kinds[name]) for name in table.column_names]
        for example in encoder.encode(pa.RecordBatch.from_arrays(columns, names=table.column_names)):
            yield example_pb2.Example.FromString(example).SerializeToString(deterministic=True)
