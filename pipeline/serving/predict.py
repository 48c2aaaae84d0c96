"""Scoring raw CSV rows with a pushed model: what `python -m pipeline predict` does.

The rows go through the same pre-flight checks as `run`, then through the
pushed SavedModel's serving signature (raw tf.Examples in, probabilities out,
the Transform graph inside), batch by batch. The examples are built the way
ExampleGen builds them (Arrow's CSV reader and tfx_bsl's encoder), typed by the
curated schema. The output is written to a hidden file and renamed when
complete, so a reader never sees half of it.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from components.versioned_pusher.versions import PUSH_RECORD, complete_local_versions
from configs.settings import ConfigError

SERVING_ENVIRONMENT = "SERVING"
ROW_COLUMN, PROBABILITY_COLUMN = "row", "probability"
KINDS = {schema_pb2.INT: "int", schema_pb2.FLOAT: "float", schema_pb2.BYTES: "bytes"}


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
              batch_size: int, on_batch: Callable[[int], None] = lambda rows: None) -> ScoringResult:
    """Writes row number, key columns and probability of every row of data, in input order."""
    import tensorflow as tf

    from components.span_example_gen.arrow_csv import read_as_strings

    started = time.perf_counter()
    with data.open(encoding="utf-8", newline="") as reader:
        header = next(csv.reader(reader))
    columns = [name for name in header if name in inputs.kinds]
    table = read_as_strings(str(data), header)
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    partial = output.with_name(f".{output.name}.partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    batches = table.combine_chunks().to_batches(max_chunksize=batch_size)
    try:
        with partial.open("w", encoding="utf-8", newline="") as writer:
            out = csv.writer(writer)
            out.writerow([ROW_COLUMN, *key_columns, PROBABILITY_COLUMN])
            for batch, examples in encoded_ahead(batches, columns, inputs.kinds):
                scores = serve(examples=tf.constant(examples))["probabilities"].numpy().reshape(-1)
                # One C-level writerows per batch: a Python loop per row was a quarter of the command.
                keys = [batch.column(name).to_pylist() for name in key_columns]
                probabilities = [f"{score:.9g}" for score in scores.tolist()]
                out.writerows(zip(range(rows + 1, rows + len(scores) + 1), *keys, probabilities, strict=True))
                rows += len(scores)
                on_batch(len(scores))
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ScoringResult(model_dir, output, rows, time.perf_counter() - started)


# Batches encoded ahead of the one being scored. tfx_bsl's encoder releases the
# GIL, so the threads encode while TensorFlow scores: encoding the tf.Examples
# was a third of the command, on one core.
ENCODE_AHEAD = 2


def encoded_ahead(batches, columns: list[str], kinds: dict[str, str]) -> Iterator[tuple[object, list[bytes]]]:
    """(batch, its serialized tf.Examples) in order, up to ENCODE_AHEAD batches encoded in advance."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=ENCODE_AHEAD, thread_name_prefix="encode") as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append((batch, pool.submit(_encoded, batch, columns, kinds)))
            if len(pending) > ENCODE_AHEAD:
                ready, future = pending.popleft()
                yield ready, future.result()
        while pending:
            ready, future = pending.popleft()
            yield ready, future.result()


def _encoded(batch, columns: list[str], kinds: dict[str, str]) -> list[bytes]:
    """The batch's rows as serialized tf.Examples, typed as the serving signature parses them."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    from components.span_example_gen.arrow_csv import as_feature_column

    features = [as_feature_column(batch.column(name), kinds[name]) for name in columns]
    encoder = example_coder.RecordBatchToExamplesEncoder()
    return encoder.encode(pa.RecordBatch.from_arrays(features, names=columns))

