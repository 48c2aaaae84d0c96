"""CSV files to serialized tf.Examples with Apache Arrow, instead of one Python call per cell.

TFX's CsvExampleGen parses every line and builds every tf.train.Feature in
Python. Here Arrow's C++ CSV reader parses whole files, tfx_bsl's C++ encoder
writes the examples a batch at a time on a thread per core, and NumPy puts each
example's features in key order, as a deterministic serialization would (see
``serialized_examples``). The result follows TFX's rules:

- a column is INT when every non-empty cell is an integer, FLOAT when every one
  is a number, BYTES otherwise, decided over all the files of the split;
- an empty cell becomes a feature with an empty value list;
- a column that is empty everywhere becomes a feature with no kind, as TFX's
  own executor writes it;
- embedded newlines in quoted cells are allowed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from tfx_bsl.coders import example_coder

from components.batched_io.threads import PerThread, coder_threads, in_order

INT, FLOAT, BYTES, EMPTY = "int", "float", "bytes", "empty"
# Rows encoded per call: large enough for C++ speed, small enough to bound memory.
ENCODE_ROWS = 65_536
# Wire tags (field number 1, length-delimited): Example.features,
# Features.feature (one map entry), and the entry's key.
EXAMPLE_FEATURES_TAG = FEATURE_ENTRY_TAG = ENTRY_KEY_TAG = 0x0A


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
    example to the next. ExampleGen assigns each example to a split by hashing
    its bytes, so they are rewritten with sorted feature keys: the same data
    then lands in the same splits on every run, and in the ones TFX's own
    CsvExampleGen puts it in (it hashes the same deterministic form).
    """
    from concurrent.futures import ThreadPoolExecutor

    names = table.column_names
    encoders = PerThread(example_coder.RecordBatchToExamplesEncoder)

    def encode(batch: pa.RecordBatch) -> list[bytes]:
        columns = [as_feature_column(batch.column(name), kinds[name]) for name in names]
        return sorted_features(encoders.get().encode(pa.RecordBatch.from_arrays(columns, names=names)), names)

    # Batches are encoded on a thread per core (the encoder and NumPy release the GIL), in order.
    threads = coder_threads()
    with ThreadPoolExecutor(threads, thread_name_prefix="encode") as pool:
        for records in in_order(pool, encode, table.combine_chunks().to_batches(max_chunksize=ENCODE_ROWS),
                                ahead=threads):
            yield from records


def sorted_features(records: list[bytes], names: list[str]) -> list[bytes]:
    """Each serialized tf.Example with its feature entries in key order, as in protobuf's deterministic form.

    Every example of the encoder has one entry per column name, so the entries
    are found and reordered for all examples at once on the bytes (NumPy)
    instead of parsing each example in Python: that parse and re-serialization
    took 35 us per example, four times the encoding itself. A batch of any
    other shape is re-serialized one example at a time.
    """
    if not records:
        return []
    lengths = np.fromiter(map(len, records), np.int64, len(records))
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    buffer = np.frombuffer(b"".join(records), np.uint8)
    entries = _feature_entries(buffer, starts, lengths)
    order = None if entries is None else _key_order(buffer, entries[3], entries[4], names)
    if order is None:
        return [_reserialized(record) for record in records]
    header_end, entry_starts = entries[:2]
    # Segments in file order: each example's header, then its entries; taken
    # back (Arrow, C++) as header + entries in key order.
    boundaries = np.r_[np.column_stack([starts, entry_starts]).ravel(), len(buffer)]
    segments = pa.Array.from_buffers(
        pa.binary(), entry_starts.size + len(records),
        [None, pa.py_buffer(boundaries.astype(np.int32)), pa.py_buffer(buffer)])
    per_example = entry_starts.shape[1] + 1
    taken = np.column_stack([np.zeros(len(records), np.int64), order + 1]) + per_example * np.arange(
        len(records))[:, None]
    rewritten = segments.take(pa.array(taken.ravel())).buffers()[2].to_pybytes()
    return [rewritten[start:start + length]
            for start, length in zip(starts.tolist(), lengths.tolist(), strict=True)]


def _feature_entries(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
    """Per example: where its header ends; per map entry: start, end, key start and key size.

    None unless every example is `features { feature {…} … }` with the same number of entries.
    """
    if not (buffer[starts] == EXAMPLE_FEATURES_TAG).all():
        return None
    size, varint_bytes = _varints(buffer, starts + 1)
    position = starts + 1 + varint_bytes
    ends = starts + lengths
    if not (position + size == ends).all():
        return None
    header_end = position.copy()
    found: list[tuple[np.ndarray, ...]] = []
    while (position < ends).any():
        if not (position < ends).all() or not (buffer[position] == FEATURE_ENTRY_TAG).all():
            return None
        entry_size, entry_varint = _varints(buffer, position + 1)
        body = position + 1 + entry_varint
        if not (buffer[body] == ENTRY_KEY_TAG).all():
            return None
        key_size, key_varint = _varints(buffer, body + 1)
        found.append((position, body + entry_size, body + 1 + key_varint, key_size))
        position = body + entry_size
    if not found or not (position == ends).all():
        return None
    return (header_end, *(np.column_stack([entry[i] for entry in found]) for i in range(4)))


def _key_order(buffer: np.ndarray, key_starts: np.ndarray, key_sizes: np.ndarray,
               names: list[str]) -> np.ndarray | None:
    """Per example, its entry positions in sorted key order; None unless each holds every name once.

    The encoder writes exactly the column names as keys, so a key is told
    apart by its size and its bytes at a few positions that no two names share.
    """
    encoded = [name.encode() for name in names]
    probes = _distinguishing_positions(encoded)
    if key_starts.shape[1] != len(encoded) or probes is None:
        return None
    signature = key_sizes.copy()
    expected = np.array([len(name) for name in encoded], np.int64)
    for position in probes:
        inside = position < key_sizes
        byte = buffer[np.minimum(key_starts + position, len(buffer) - 1)].astype(np.int64)
        signature = signature * 257 + np.where(inside, byte + 1, 0)
        expected = expected * 257 + np.array([name[position] + 1 if position < len(name) else 0
                                              for name in encoded], np.int64)
    by_signature = np.argsort(expected)
    slot = np.minimum(np.searchsorted(expected[by_signature], signature), len(encoded) - 1)
    ids = by_signature[slot]
    rank = np.argsort(np.argsort(encoded))[ids]
    if not (expected[ids] == signature).all() or not (
            np.sort(rank, axis=1) == np.arange(len(encoded))).all():
        return None
    return np.argsort(rank, axis=1)


def _distinguishing_positions(names: list[bytes]) -> list[int] | None:
    """Byte positions at which (size, those bytes) differ for every pair of names; at most 6."""
    positions: list[int] = []
    while len({(len(n), *(n[p] if p < len(n) else -1 for p in positions)) for n in names}) < len(names):
        candidates = range(max(map(len, names)))
        best = max(candidates, key=lambda p: len({(len(n), *(n[q] if q < len(n) else -1
                                                             for q in [*positions, p])) for n in names}))
        if best in positions or len(positions) == 6:
            return None
        positions.append(best)
    return positions


def _varints(buffer: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints read at every position at once: (values, sizes in bytes)."""
    values = np.zeros(len(positions), np.int64)
    sizes = np.zeros(len(positions), np.int64)
    more = np.ones(len(positions), bool)
    last = len(buffer) - 1
    for shift in range(0, 64, 7):
        byte = buffer[np.minimum(positions + sizes, last)].astype(np.int64)
        values |= np.where(more, (byte & 0x7F) << shift, 0)
        sizes += more
        more &= byte >= 0x80
        if not more.any():
            break
    return values, sizes


def _reserialized(record: bytes) -> bytes:
    from tensorflow.core.example import example_pb2

    return example_pb2.Example.FromString(record).SerializeToString(deterministic=True)
