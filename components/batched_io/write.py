"""A Beam sink for Arrow RecordBatches as gzipped TFRecords of tf.Examples, encoded on threads.

Each bundle writes one file: its batches are encoded on a thread per core and
written, in order, by TensorFlow's C++ TFRecordWriter on a thread of its own.
Files are first written into a hidden temporary folder beside the output; once
every bundle is done, one step renames them to `<prefix>-SSSSS-of-NNNNN.gz`
(the names Beam's TFRecord sink gives) and removes the folder, with whatever a
retried bundle left in it. A reader of the output folder never sees a file
half-written, and an input with no rows still gives one (empty) file, as
Beam's sink does.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from concurrent.futures import Future

import apache_beam as beam
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows
from tfx_bsl.coders import example_coder

from components.batched_io.threads import PerThread, coder_threads

# zlib level 1 instead of the default 6: compressing 245,760 transformed
# examples took 0.65 s against 1.94 s, and the files were 25% larger
# (21.2 MiB against 17.0 MiB; by hand, one file).
COMPRESSION_LEVEL = 1
SUFFIX = ".gz"
TEMP_FOLDER_PREFIX = ".partial-"


def shard_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}{SUFFIX}"


class WriteEncodedBatches(beam.PTransform):
    """RecordBatches -> tf.Example TFRecord files named `<prefix>-SSSSS-of-NNNNN.gz`."""

    def __init__(self, prefix: str, schema=None):
        super().__init__()
        self._prefix = prefix
        # The transformed schema TFX hands to its own encoder (a proto, or None to encode by Arrow types).
        self._schema = schema

    def expand(self, batches):
        temp_folder = os.path.join(os.path.dirname(self._prefix), f"{TEMP_FOLDER_PREFIX}{uuid.uuid4().hex}")
        return (batches
                | "EncodeAndWrite" >> beam.ParDo(_EncodeAndWriteBundle(temp_folder, self._schema))
                | "AllFiles" >> beam.combiners.ToList()
                | "NameFiles" >> beam.Map(_publish, self._prefix, temp_folder))


class _EncodeAndWriteBundle(beam.DoFn):
    """Writes each bundle's batches to one temporary file; emits its path when the bundle ends."""

    def __init__(self, temp_folder: str, schema):
        self._temp_folder = temp_folder
        self._schema = schema

    def setup(self):
        from concurrent.futures import ThreadPoolExecutor

        self._threads = coder_threads()
        self._encode_pool = ThreadPoolExecutor(self._threads, thread_name_prefix="encode")
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="write")
        schema = self._schema
        self._encoders = PerThread(lambda: example_coder.RecordBatchToExamplesEncoder(schema))

    def teardown(self):
        self._encode_pool.shutdown(wait=True, cancel_futures=True)
        self._write_pool.shutdown(wait=True, cancel_futures=True)

    def start_bundle(self):
        self._path = None
        self._writer = None
        self._encoding: deque[Future] = deque()
        self._writing: deque[Future] = deque()

    def process(self, batch: pa.RecordBatch) -> None:  # emits nothing: finish_bundle emits the file
        if self._writer is None:
            self._open()
        self._encoding.append(self._encode_pool.submit(self._encode, batch))
        if len(self._encoding) > self._threads:
            self._write_next()

    def finish_bundle(self):
        if self._writer is None:
            return
        while self._encoding:
            self._write_next()
        while self._writing:
            self._writing.popleft().result()
        self._writer.close()
        yield GlobalWindows.windowed_value(self._path)

    def _open(self) -> None:
        import tensorflow as tf

        tf.io.gfile.makedirs(self._temp_folder)
        self._path = os.path.join(self._temp_folder, f"{uuid.uuid4().hex}{SUFFIX}")
        options = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=COMPRESSION_LEVEL)
        self._writer = tf.io.TFRecordWriter(self._path, options)

    def _write_next(self) -> None:
        records = self._encoding.popleft().result()
        self._writing.append(self._write_pool.submit(self._write, records))
        while len(self._writing) > 2:  # bounded: encoded batches wait in memory only briefly
            self._writing.popleft().result()

    def _encode(self, batch: pa.RecordBatch) -> list[bytes]:
        return self._encoders.get().encode(batch)

    def _write(self, records: list[bytes]) -> None:
        write = self._writer.write
        for record in records:
            write(record)


def _publish(paths: list[str], prefix: str, temp_folder: str) -> list[str]:
    """Renames the bundles' files to their shard names and removes the temporary folder."""
    import tensorflow as tf

    paths = sorted(paths)
    if not paths:  # no rows at all: one empty file, as Beam's sink writes
        tf.io.gfile.makedirs(temp_folder)
        empty = os.path.join(temp_folder, f"empty{SUFFIX}")
        tf.io.TFRecordWriter(empty, tf.io.TFRecordOptions(compression_type="GZIP")).close()
        paths = [empty]
    names = [shard_name(prefix, index, len(paths)) for index in range(len(paths))]
    for path, name in zip(paths, names, strict=True):
        tf.io.gfile.rename(path, name, overwrite=True)
    tf.io.gfile.rmtree(temp_folder)
    return names
