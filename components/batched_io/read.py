"""A tf.Example TFRecord TFXIO whose Beam source reads whole batches in C++ and decodes them on threads.

tfx_bsl's TFExampleRecord reads with Beam's Python TFRecord source (one
element per record) and then groups records into batches of at most 1,000 for
decoding. This source gives each file to one worker, which reads it with
TensorFlow's C++ reader (`tf.data`, gzip and checksums included) BATCH_RECORDS
records at a time and decodes the batches into Arrow on a thread per core,
yielding them in file order (with the serialized examples beside them when
asked, as tfx_bsl's source does for TFMA). On 1,500,000 generated taxi rows
Transform, with the writer of write.py, took 41 s inside a run against 110 s.

Files are the unit of parallelism: ExampleGen writes one per writer thread
(components/span_example_gen/direct_write.py), so each worker of a
multi-process runner reads its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.coders import example_coder
from tfx_bsl.tfxio import record_based_tfxio, tf_example_record

from components.batched_io.threads import PerThread, coder_threads, in_order

# Records per decoded batch: at 2,048 Transform on 1.5M rows took a fifth longer
# than at 4,096; 8,192 was no faster than 4,096 (by hand, one run each).
BATCH_RECORDS = 4096
# What tf.data reads, by file name ending; Beam's own source guesses the same way.
COMPRESSION_BY_SUFFIX = {".gz": "GZIP", ".gzip": "GZIP"}
UNREADABLE_SUFFIXES = (".bz2", ".deflate", ".zst", ".zstd", ".lzo", ".snappy")


def readable_in_batches(files: list[str]) -> bool:
    """True when tf.data can read every file: gzipped or uncompressed TFRecords."""
    return bool(files) and not any(path.lower().endswith(UNREADABLE_SUFFIXES) for path in files)


def compression_of(path: str) -> str:
    return next((kind for suffix, kind in COMPRESSION_BY_SUFFIX.items() if path.lower().endswith(suffix)), "")


class BatchedTFExampleRecord(tf_example_record.TFExampleRecord):
    """TFExampleRecord (same schema, projections and tensor representations) with the batched Beam source."""

    @classmethod
    def like(cls, tfxio: tf_example_record.TFExampleRecord) -> BatchedTFExampleRecord:
        """The batched twin of a TFExampleRecord that TFX made."""
        return cls(file_pattern=tfxio._file_pattern, schema=tfxio._schema,
                   raw_record_column_name=tfxio.raw_record_column_name,
                   telemetry_descriptors=tfxio.telemetry_descriptors)

    def BeamSource(self, batch_size: int | None = None) -> beam.PTransform:  # noqa: N802 (TFXIO's name)
        files = matching_files(self._file_pattern)
        if not readable_in_batches(files):
            return super().BeamSource(batch_size)
        return ReadDecodedBatches(files, self._schema, batch_size or BATCH_RECORDS,
                                  self.raw_record_column_name)

    def _ProjectImpl(self, tensor_names: list[str]) -> BatchedTFExampleRecord:
        return BatchedTFExampleRecord.like(super()._ProjectImpl(tensor_names))


def matching_files(patterns: list[str]) -> list[str]:
    """Every file the patterns match, sorted; a pattern that matches nothing is an error, as in Beam."""
    import tensorflow as tf

    files = []
    for pattern in patterns:
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise FileNotFoundError(f"no file matches {pattern}")
        files.extend(matched)
    return sorted(files)


class ReadDecodedBatches(beam.PTransform):
    """files -> Arrow RecordBatches of their tf.Examples, each file read by one worker.

    With `raw_record_column`, each batch also holds the serialized examples in
    that column, as tfx_bsl's source adds them (TFMA feeds them to the model).
    """

    def __init__(self, files: list[str], schema: schema_pb2.Schema | None, batch_records: int,
                 raw_record_column: str | None = None):
        super().__init__()
        self._files = files
        self._schema = schema
        self._batch_records = batch_records
        self._raw_record_column = raw_record_column

    def expand(self, pipeline):
        return (pipeline
                | "Files" >> beam.Create(self._files)
                # Hands the files out to the workers of a multi-process or distributed runner.
                | "Distribute" >> beam.Reshuffle()
                | "ReadAndDecode" >> beam.ParDo(_ReadAndDecodeFile(self._schema, self._batch_records,
                                                                   self._raw_record_column)))


class _ReadAndDecodeFile(beam.DoFn):
    def __init__(self, schema: schema_pb2.Schema | None, batch_records: int, raw_record_column: str | None):
        # Serialized: DoFns are pickled, and protos are kept out of pickles (tfx_bsl does the same).
        self._schema = schema.SerializeToString() if schema is not None else None
        self._batch_records = batch_records
        self._raw_record_column = raw_record_column

    def setup(self):
        from concurrent.futures import ThreadPoolExecutor

        self._threads = coder_threads()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="decode")
        schema = self._schema
        self._decoders = PerThread(lambda: example_coder.ExamplesToRecordBatchDecoder(schema)
                                   if schema is not None else example_coder.ExamplesToRecordBatchDecoder())

    def teardown(self):
        self._pool.shutdown(wait=True, cancel_futures=True)

    def process(self, path: str) -> Iterator[pa.RecordBatch]:
        yield from in_order(self._pool, self._decode, self._record_batches(path), ahead=2 * self._threads)

    def _record_batches(self, path: str) -> Iterator[list[bytes]]:
        import tensorflow as tf

        dataset = tf.data.TFRecordDataset(path, compression_type=compression_of(path), buffer_size=8 << 20)
        for records in dataset.batch(self._batch_records).as_numpy_iterator():
            yield records.tolist()

    def _decode(self, records: list[bytes]) -> pa.RecordBatch:
        decoded = self._decoders.get().DecodeBatch(records)
        if self._raw_record_column is None:
            return decoded
        return record_based_tfxio.AppendRawRecordColumn(decoded, self._raw_record_column, records)
