"""The Arrow CSV reader of the ExampleGen executor against TFX's own CsvExampleGen executor.

Both executors run for real (Beam DirectRunner) on the same files; their
splits must hold the same examples, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Every case TFX's type inference distinguishes: ints, floats (some written as
# ints), text with a quoted comma and a quoted newline, empty cells, a column
# empty everywhere, and a column that is numeric in one file and text in the other.
FIRST_FILE = """\
trip_id,fare,company,tips,never_set,mixed
1,10.5,"Flash Cab, Inc.",0,,7
2,11,Taxi Affiliation,1.25,,8
3,,"Two
lines",,,9
"""
SECOND_FILE = """\
trip_id,fare,company,tips,never_set,mixed
4,12.75,,3,,x

5,-1e3,Blue Diamond,0.5,,10
"""


def write_split_files(base: Path) -> Path:
    (base / "input").mkdir(parents=True)
    (base / "input" / "a.csv").write_text(FIRST_FILE)
    (base / "input" / "b.csv").write_text(SECOND_FILE)
    return base / "input"


def run_executor(executor_class, input_base: Path, output: Path) -> dict[str, list[bytes]]:
    """Runs an ExampleGen executor into `output` and returns each split's records, sorted."""
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    input_config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern="*.csv")])
    output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))
    exec_properties = {
        specs.INPUT_BASE_KEY: str(input_base),
        specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
        specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    executor_class().Do({}, {specs.EXAMPLES_KEY: [examples]}, exec_properties)
    return {split: sorted(read_records(output / f"Split-{split}")) for split in ("train", "eval")}


def read_records(split_dir: Path) -> list[bytes]:
    import tensorflow as tf

    return [record.numpy() for path in sorted(split_dir.glob("*.gz"))
            for record in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]


def test_arrow_reader_writes_the_examples_and_splits_tfx_csv_example_gen_writes(tmp_path):
    from tfx.components.example_gen.csv_example_gen import executor as tfx_csv

    from components.span_example_gen import executor as ours

    input_base = write_split_files(tmp_path)
    theirs = run_executor(tfx_csv.Executor, input_base, tmp_path / "tfx")
    mine = run_executor(ours.Executor, input_base, tmp_path / "ours")

    assert sum(len(records) for records in theirs.values()) == 5  # the blank line is no example
    # TFX writes its examples non-deterministically; compare them as protos.
    assert {split: sorted(canonical(r) for r in records) for split, records in theirs.items()} == \
           {split: sorted(canonical(r) for r in records) for split, records in mine.items()}
    assert all(canonical(record) == record for records in mine.values() for record in records)


def canonical(record: bytes) -> bytes:
    from tensorflow.core.example import example_pb2

    return example_pb2.Example.FromString(record).SerializeToString(deterministic=True)


def test_the_inferred_kinds_follow_tfx_rules(tmp_path):
    from tensorflow.core.example import example_pb2

    from components.span_example_gen import executor as ours

    records = run_executor(ours.Executor, write_split_files(tmp_path), tmp_path / "ours")
    by_trip = {}
    for record in records["train"] + records["eval"]:
        example = example_pb2.Example.FromString(record)
        by_trip[example.features.feature["trip_id"].int64_list.value[0]] = example.features.feature
    assert sorted(by_trip) == [1, 2, 3, 4, 5]
    assert list(by_trip[2]["fare"].float_list.value) == [11.0]     # an int cell in a float column
    assert list(by_trip[3]["fare"].float_list.value) == []          # an empty cell: an empty list
    assert by_trip[3]["company"].bytes_list.value == [b"Two\nlines"]
    assert by_trip[1]["company"].bytes_list.value == [b"Flash Cab, Inc."]
    assert by_trip[1]["never_set"].WhichOneof("kind") is None       # empty in every file
    assert by_trip[1]["mixed"].bytes_list.value == [b"7"]            # text in the other file


def test_files_of_one_split_with_different_headers_are_named(tmp_path):
    from components.span_example_gen import executor as ours

    input_base = write_split_files(tmp_path)
    (input_base / "b.csv").write_text(SECOND_FILE.replace("tips,", "tip,"))
    with pytest.raises(RuntimeError, match=r"b\.csv has a different header from .*a\.csv"):
        run_executor(ours.Executor, input_base, tmp_path / "ours")
    assert not list((tmp_path / "ours").glob("Split-*/*.gz"))
