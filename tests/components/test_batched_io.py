"""The batched TFRecord source and sink (components/batched_io) against tfx_bsl's and Beam's own.

Real Beam pipelines on the DirectRunner, in this process and on two worker
processes, over real tf.Example files: the source must give the same rows as
tfx_bsl's TFExampleRecord, and what the sink writes must read back as the rows
it was given, under the names Beam's sink would use, with nothing left over.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from components.batched_io.read import BatchedTFExampleRecord, matching_files
from components.batched_io.write import TEMP_FOLDER_PREFIX, WriteEncodedBatches
from tests.conftest import PROJECT_ROOT, read_taxi_rows, serialized_examples

SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
IN_PROCESS = ["--direct_running_mode=in_memory"]
TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def write_records(path: Path, records: list[bytes]) -> None:
    import tensorflow as tf

    options = tf.io.TFRecordOptions(compression_type="GZIP" if path.suffix == ".gz" else "")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for record in records:
            writer.write(record)


@pytest.fixture(scope="module")
def example_files(tmp_path_factory) -> tuple[Path, list[bytes]]:
    """Three gzipped files and one uncompressed one of taxi tf.Examples (one empty), and all their records."""
    folder = tmp_path_factory.mktemp("examples")
    records = serialized_examples(read_taxi_rows(1100), SCHEMA)
    write_records(folder / "part-0.gz", records[:500])
    write_records(folder / "part-1.gz", records[500:501])
    write_records(folder / "part-2.gz", [])
    write_records(folder / "part-3", records[501:])
    return folder, records


def schema():
    from tfx.utils import io_utils

    return io_utils.SchemaReader().read(str(SCHEMA))


def row_keys(batch: pa.RecordBatch) -> list[str]:
    """Each row of a batch as text: (column, values) pairs in column order."""
    return [repr(sorted(row.items())) for row in batch.to_pylist()]


def collect(tfxio, beam_args: list[str], folder: Path, batch_size: int | None = None
            ) -> tuple[list[str], list[int]]:
    """The rows and the batch sizes the TFXIO's Beam source gives, sorted.

    They go through files: the pipeline's workers may be other processes.
    """
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        batches = pipeline | tfxio.BeamSource(batch_size)
        _ = (batches | "Rows" >> beam.FlatMap(row_keys)
             | "WriteRows" >> beam.io.WriteToText(str(folder / "rows")))
        _ = (batches | "Sizes" >> beam.Map(lambda batch: str(batch.num_rows))
             | "WriteSizes" >> beam.io.WriteToText(str(folder / "sizes")))
    rows = sorted(line for path in folder.glob("rows*") for line in path.read_text().splitlines())
    sizes = sorted(int(line) for path in folder.glob("sizes*") for line in path.read_text().splitlines())
    return rows, sizes


@pytest.mark.parametrize("beam_args", [IN_PROCESS, TWO_WORKERS], ids=["in-process", "two-workers"])
def test_the_source_gives_the_rows_tfx_bsls_source_gives(example_files, beam_args, tmp_path):
    from tfx_bsl.tfxio.tf_example_record import TFExampleRecord

    folder, records = example_files
    pattern = str(folder / "part-*")
    stock_rows, _ = collect(TFExampleRecord(pattern, schema=schema()), IN_PROCESS, tmp_path / "stock")
    rows, sizes = collect(BatchedTFExampleRecord(pattern, schema=schema()), beam_args, tmp_path / "batched",
                          batch_size=128)
    assert len(rows) == len(records) == 1100 and sum(sizes) == 1100
    assert max(sizes) == 128
    assert rows == stock_rows


def test_a_projection_keeps_the_batched_source_and_reads_only_its_columns(example_files, tmp_path):
    folder, _ = example_files
    tfxio = BatchedTFExampleRecord(str(folder / "part-*"), schema=schema()).Project(["fare", "company"])
    assert isinstance(tfxio.projected, BatchedTFExampleRecord)
    rows, _ = collect(tfxio, IN_PROCESS, tmp_path)
    assert {tuple(column for column, _ in eval(row)) for row in rows} == {("company", "fare")}


def test_a_pattern_that_matches_nothing_names_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no file matches {tmp_path}/nothing-\\*"):
        matching_files([str(tmp_path / "nothing-*")])


def test_files_it_cannot_read_in_batches_go_through_the_stock_source(tmp_path):
    """bzip2 is not something tf.data reads: such a dataset keeps Beam's own source."""
    import bz2

    plain = tmp_path / "plain"
    write_records(plain, serialized_examples(read_taxi_rows(20), SCHEMA))
    (tmp_path / "part-0.bz2").write_bytes(bz2.compress(plain.read_bytes()))
    rows, _ = collect(BatchedTFExampleRecord(str(tmp_path / "*.bz2"), schema=schema()), IN_PROCESS,
                      tmp_path / "out")
    assert len(rows) == 20


def decoded(records: list[bytes]) -> pa.RecordBatch:
    from tfx_bsl.coders import example_coder

    return example_coder.ExamplesToRecordBatchDecoder(schema().SerializeToString()).DecodeBatch(records)


def read_back(files: list[Path]) -> list[bytes]:
    import tensorflow as tf

    return [record for path in files
            for record in tf.data.TFRecordDataset(str(path), "GZIP").as_numpy_iterator()]


@pytest.mark.parametrize("beam_args", [IN_PROCESS, TWO_WORKERS], ids=["in-process", "two-workers"])
def test_the_sink_writes_every_row_once_under_beams_shard_names(tmp_path, beam_args):
    records = serialized_examples(read_taxi_rows(700), SCHEMA)
    batches = [decoded(records[start:start + 100]) for start in range(0, 700, 100)]
    prefix = tmp_path / "Split-train" / "transformed_examples"
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        _ = pipeline | beam.Create(batches) | WriteEncodedBatches(str(prefix))
    files = sorted((tmp_path / "Split-train").iterdir())
    count = len(files)
    assert [path.name for path in files] == \
        [f"transformed_examples-{index:05d}-of-{count:05d}.gz" for index in range(count)]
    written = sorted(row_keys(decoded(read_back(files))))
    assert written == sorted(row for batch in batches for row in row_keys(batch))
    with gzip.open(files[0]) as reader:  # a real gzip stream, as TFX's readers expect
        assert reader.read(1)


def test_an_input_without_rows_still_gives_one_empty_file(tmp_path):
    prefix = tmp_path / "Split-eval" / "transformed_examples"
    with beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as pipeline:
        _ = pipeline | beam.Create([]).with_output_types(pa.RecordBatch) | WriteEncodedBatches(str(prefix))
    files = sorted((tmp_path / "Split-eval").iterdir())
    assert [path.name for path in files] == ["transformed_examples-00000-of-00001.gz"]
    assert read_back(files) == []


def test_a_failed_write_publishes_nothing(tmp_path):
    """A batch the encoder rejects fails the pipeline; no file ever gets a shard name."""
    prefix = tmp_path / "Split-train" / "transformed_examples"
    unencodable = pa.RecordBatch.from_arrays([pa.array([{"a": 1}])], ["nested"])
    failing = pytest.raises(RuntimeError, match='encoding feature "nested"')
    with failing, beam.Pipeline(options=PipelineOptions(IN_PROCESS)) as pipeline:
        _ = pipeline | beam.Create([unencodable]) | WriteEncodedBatches(str(prefix))
    left = list((tmp_path / "Split-train").iterdir()) if (tmp_path / "Split-train").exists() else []
    assert all(path.name.startswith(TEMP_FOLDER_PREFIX) for path in left)
