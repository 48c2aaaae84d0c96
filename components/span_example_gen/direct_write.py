"""Writes ExampleGen's hash splits straight to gzipped TFRecord files, a batch of examples at a time.

TFX's ExampleGen sends every example through Beam: a Partition call to pick
its split, then Beam's TFRecord sink, which frames and checksums each record
in Python. Here the examples arrive in batches from the Arrow reader, each is
assigned to its split by the same rule as TFX's (SHA-256 of its serialized
bytes, modulo the total of the hash buckets; tests/components/test_example_gen.py compares
both executors' splits), and each batch goes to one of a few writer threads
that frame, checksum and compress (zlib level 1, as components/batched_io
writes) in TensorFlow's C++ TFRecordWriter. The
files land where WriteSplit would put them (``Split-<name>/data_tfrecord-…gz``),
one per writer, so that a reader with a worker per core gets one file each.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tfx import types
from tfx.components.example_gen import utils, write_split
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

BATCH_ROWS = 50_000
# The name TFX's WriteSplit gives its files: data_tfrecord-SSSSS-of-NNNNN.gz.
FILE_PREFIX = write_split.DEFAULT_TF_RECORD_FILE_NAME


def applies(exec_properties: dict[str, Any]) -> bool:
    """True for a hash split of one input into gzipped TFRecords of tf.Examples: the case handled here."""
    input_config, output_config = example_gen_configs(exec_properties)
    split_config = output_config.split_config
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY,
                                      example_gen_pb2.FILE_FORMAT_UNSPECIFIED)
    payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY,
                                  example_gen_pb2.FORMAT_TF_EXAMPLE)
    return (len(input_config.splits) == 1 and bool(split_config.splits)
            and not split_config.HasField("partition_feature_name")
            and file_format in (example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
                                example_gen_pb2.FORMAT_TFRECORDS_GZIP)
            and payload == example_gen_pb2.FORMAT_TF_EXAMPLE)


def split_of(record: bytes, bucket_ends: list[int]) -> int:
    """The split index TFX's ExampleGen gives a serialized example (its _PartitionFn, for bytes)."""
    bucket = int.from_bytes(hashlib.sha256(record).digest(), "big") % bucket_ends[-1]
    return bisect.bisect(bucket_ends, bucket)


def write_splits(records: Iterable[bytes], exec_properties: dict[str, Any],
                 examples: list[types.Artifact], writers: int | None = None) -> dict[str, int]:
    """Writes every record into its split's files; sets the artifact's split names and payload format.

    Returns the number of examples per split.
    """
    input_config, output_config = example_gen_configs(exec_properties)
    names = utils.generate_output_split_names(input_config, output_config)
    splits = output_config.split_config.splits
    bucket_ends = list(itertools.accumulate(split.hash_buckets for split in splits))
    artifact = artifact_utils.get_single_instance(examples)
    artifact.split_names = artifact_utils.encode_split_names(names)
    writers = writers or os.cpu_count() or 1
    counts = dict.fromkeys(names, 0)
    with _ShardWriters([artifact_utils.get_split_uri(examples, name) for name in names], writers) as shards:
        for batch in _batches(records, BATCH_ROWS):
            by_split: list[list[bytes]] = [[] for _ in names]
            for record in batch:
                by_split[split_of(record, bucket_ends)].append(record)
            for name, split_records in zip(names, by_split, strict=True):
                counts[name] += len(split_records)
            shards.submit(by_split)
    examples_utils.set_payload_format(artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
    return counts


class _ShardWriters:
    """One thread per shard, each owning one gzipped TFRecord file per split; batches go round-robin."""

    def __init__(self, split_dirs: list[str], shards: int) -> None:
        self._split_dirs = split_dirs
        self._shards = shards
        self._threads = [ThreadPoolExecutor(1, thread_name_prefix=f"examples-{i}") for i in range(shards)]
        self._files: list[list[Any]] = []
        self._pending: list[Future] = []
        self._next = 0

    def __enter__(self) -> _ShardWriters:
        import tensorflow as tf

        from components.batched_io.write import COMPRESSION_LEVEL

        options = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=COMPRESSION_LEVEL)
        for split_dir in self._split_dirs:
            tf.io.gfile.makedirs(split_dir)
        self._files = [[tf.io.TFRecordWriter(os.path.join(split_dir, f"{FILE_PREFIX}-{shard:05d}-of-"
                                                          f"{self._shards:05d}.gz"), options=options)
                        for split_dir in self._split_dirs] for shard in range(self._shards)]
        return self

    def submit(self, by_split: list[list[bytes]]) -> None:
        shard = self._next % self._shards
        self._next += 1
        self._pending.append(self._threads[shard].submit(_write, self._files[shard], by_split))
        # At most two batches waiting per writer: memory stays bounded whatever the input size.
        while len(self._pending) > 2 * self._shards:
            self._pending.pop(0).result()

    def __exit__(self, *exc_info) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            for thread in self._threads:
                thread.shutdown(wait=True)
            for shard_files in self._files:
                for writer in shard_files:
                    writer.close()


def _write(files: list[Any], by_split: list[list[bytes]]) -> None:
    for writer, records in zip(files, by_split, strict=True):
        for record in records:
            writer.write(record)


def _batches(records: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def example_gen_configs(exec_properties: dict[str, Any]
                        ) -> tuple[example_gen_pb2.Input, example_gen_pb2.Output]:
    """The executor's input and output configurations, parsed from their JSON."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return input_config, output_config
