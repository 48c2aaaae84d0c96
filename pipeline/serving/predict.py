"""Scoring raw CSV rows with a pushed model: what `python -m pipeline predict` does.

The rows go through the same pre-flight checks as `run` (whose Arrow read of
the file is reused here), then, batch by batch, through the pushed SavedModel:
its `serving_columns` signature takes the raw columns with their presence
masks, the Transform graph inside; models pushed before that signature existed
are given serialized tf.Examples, built the way ExampleGen builds them. Each
batch is prepared on a thread while the one before is scored, and its scores
are written as CSV by Arrow (csv_lines.py). The output is written to a hidden
file and renamed when complete, so a reader never sees half of it.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from components.versioned_pusher.versions import PUSH_RECORD, complete_local_versions
from configs.settings import ConfigError

SERVING_ENVIRONMENT = "SERVING"
ROW_COLUMN, PROBABILITY_COLUMN = "row", "probability"
KINDS = {schema_pb2.INT: "int", schema_pb2.FLOAT: "float", schema_pb2.BYTES: "bytes"}
NUMPY_TYPES = {"int": "int64", "float": "float32"}


@dataclass(frozen=True)
class ScoringResult:
    model: Path
    output: Path
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def resolve_model(choice: str, serving_dir: Path) -> Path:
    """`latest`, a version number in serving_dir, or a path; only a complete pushed version is accepted."""
    if choice == "latest":
        versions = complete_local_versions(serving_dir)
        if not versions:
            raise ConfigError(f"no complete model version in {serving_dir}: run the pipeline until it pushes")
        return serving_dir / str(versions[-1])
    path = serving_dir / choice if choice.isdigit() else Path(choice)
    if choice.isdigit() and not path.exists():
        versions = complete_local_versions(serving_dir)
        known = ", ".join(str(v) for v in versions[-10:]) if versions else "none yet"
        raise ConfigError(f"--model {choice}: no such version in {serving_dir}; "
                          f"its complete versions: {known}")
    if not (path / PUSH_RECORD).is_file() or not (path / "saved_model.pb").is_file():
        raise ConfigError(f"--model {choice}: {path} is not a complete pushed version "
                          f"(a pushed SavedModel with its {PUSH_RECORD}); refusing to score with it")
    return path


@dataclass(frozen=True)
class ServingInputs:
    """What the serving signature reads, from the curated schema."""

    kinds: dict[str, str]  # column -> int, float or bytes
    required: tuple[str, ...]  # parsed as fixed-length features: a value in every row

    @classmethod
    def from_schema(cls, schema: schema_pb2.Schema) -> ServingInputs:
        serving = [feature for feature in schema.feature
                   if SERVING_ENVIRONMENT not in feature.not_in_environment and feature.type in KINDS]
        required = tuple(feature.name for feature in serving
                         if feature.value_count.min >= 1 and feature.presence.min_fraction >= 1.0)
        return cls({feature.name: KINDS[feature.type] for feature in serving}, required)


def score_csv(model_dir: Path, data: Path, output: Path, inputs: ServingInputs, key_columns: list[str],
              batch_size: int, on_batch: Callable[[int], None] = lambda rows: None,
              table=None) -> ScoringResult:
    """Writes row number, key columns and probability of every row of data, in input order.

    `table`: the file as the pre-flight check read it (every column text, empty
    cells ""), so that it is not read twice; None reads it here.
    """
    import pyarrow as pa
    import tensorflow as tf

    from pipeline.serving.csv_lines import write_header, write_rows

    started = time.perf_counter()
    if table is None:
        table = _read_as_text(data)
    loaded = tf.saved_model.load(str(model_dir))
    scorer = _scorer(loaded, inputs, [name for name in table.column_names if name in inputs.kinds])
    partial = output.with_name(f".{output.name}.partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    batches = table.combine_chunks().to_batches(max_chunksize=batch_size)
    try:
        with partial.open("wb") as writer:
            write_header(writer, [ROW_COLUMN, *key_columns, PROBABILITY_COLUMN])
            for batch, feed in prepared_ahead(batches, scorer.prepare):
                scores = scorer.score(feed)
                numbers = pa.array(range(rows + 1, rows + len(scores) + 1), pa.int64())
                keys = [batch.column(name) for name in key_columns]
                write_rows(writer, [numbers, *keys, pa.array(scores, pa.float32())])
                rows += len(scores)
                on_batch(len(scores))
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ScoringResult(model_dir, output, rows, time.perf_counter() - started)


def _read_as_text(data: Path):
    """The CSV file with every column as text and empty cells "", as the pre-flight check reads it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from components.span_example_gen.arrow_csv import read_as_strings

    with data.open(encoding="utf-8", newline="") as reader:
        header = next(csv.reader(reader))
    table = read_as_strings(str(data), header)
    return pa.table({name: pc.fill_null(table[name], "") for name in header})


# Batches prepared ahead of the one being scored. Arrow's and tfx_bsl's work
# releases the GIL, so the threads prepare while TensorFlow scores.
PREPARE_AHEAD = 2


def prepared_ahead(batches, prepare: Callable) -> Iterator[tuple[object, object]]:
    """(batch, prepare(batch)) in order, up to PREPARE_AHEAD batches prepared in advance."""
    from concurrent.futures import ThreadPoolExecutor

    from components.batched_io.threads import in_order

    with ThreadPoolExecutor(max_workers=PREPARE_AHEAD, thread_name_prefix="prepare") as pool:
        yield from in_order(pool, lambda batch: (batch, prepare(batch)), batches, ahead=PREPARE_AHEAD)


class _ColumnsScorer:
    """The model's serving_columns signature: each column and its presence mask, no tf.Example."""

    def __init__(self, signature, inputs: ServingInputs, columns: list[str]):
        self._signature = signature
        self._inputs = inputs
        self._columns = set(columns)

    def prepare(self, batch) -> dict:
        import numpy as np
        import pyarrow.compute as pc

        from trainer.export import PRESENT_PREFIX

        feed = {}
        for name, kind in self._inputs.kinds.items():
            if name in self._columns:
                text = batch.column(name)
                present = pc.not_equal(text, "")
                values = (pc.cast(pc.if_else(present, text, "0"), NUMPY_TYPES[kind]) if kind != "bytes"
                          else text)
                feed[name] = values.to_numpy(zero_copy_only=False)
                feed[PRESENT_PREFIX + name] = present.to_numpy(zero_copy_only=False)
            else:  # a column the file does not have: missing in every row
                feed[name] = np.full(batch.num_rows, b"" if kind == "bytes" else 0,
                                     object if kind == "bytes" else NUMPY_TYPES[kind])
                feed[PRESENT_PREFIX + name] = np.zeros(batch.num_rows, bool)
        return feed

    def score(self, feed: dict):
        return self._signature(**feed)["probabilities"].numpy().reshape(-1)


class _ExamplesScorer:
    """serving_default, for models pushed before serving_columns existed: serialized tf.Examples."""

    def __init__(self, signature, inputs: ServingInputs, columns: list[str]):
        self._signature = signature
        self._inputs = inputs
        self._columns = columns

    def prepare(self, batch) -> list[bytes]:
        return _encoded(batch, self._columns, self._inputs.kinds)

    def score(self, examples: list[bytes]):
        import tensorflow as tf

        return self._signature(examples=tf.constant(examples))["probabilities"].numpy().reshape(-1)


def _scorer(loaded, inputs: ServingInputs, columns: list[str]):
    from trainer.export import COLUMNS_SIGNATURE, SERVING_SIGNATURE

    if COLUMNS_SIGNATURE in loaded.signatures:
        return _ColumnsScorer(loaded.signatures[COLUMNS_SIGNATURE], inputs, columns)
    return _ExamplesScorer(loaded.signatures[SERVING_SIGNATURE], inputs, columns)


def _encoded(batch, columns: list[str], kinds: dict[str, str]) -> list[bytes]:
    """The batch's rows as serialized tf.Examples, typed as the serving signature parses them."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from tfx_bsl.coders import example_coder

    from components.span_example_gen.arrow_csv import as_feature_column

    features = [as_feature_column(pc.if_else(pc.equal(batch.column(name), ""), None, batch.column(name)),
                                  kinds[name]) for name in columns]
    encoder = example_coder.RecordBatchToExamplesEncoder()
    return encoder.encode(pa.RecordBatch.from_arrays(features, names=columns))
