"""The ExampleGen executor's Arrow reader and direct split writer against TFX's own CsvExampleGen executor.

Both executors run for real (TFX's on the Beam DirectRunner) on the same
files; their splits must hold the same examples, byte for byte.
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


def run_executor(executor_class, input_base: Path, output: Path, artifact: list | None = None
                 ) -> dict[str, list[bytes]]:
    """Runs an ExampleGen executor into `output` and returns each split's records, sorted.

    `artifact`, when given, receives the output Examples artifact.
    """
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
    if artifact is not None:
        artifact.append(examples)
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


def test_on_real_taxi_rows_every_example_lands_in_the_split_tfx_puts_it_in(tmp_path):
    import csv

    from tfx.components.example_gen.csv_example_gen import executor as tfx_csv

    from components.span_example_gen import direct_write
    from components.span_example_gen import executor as ours
    from tests.conftest import read_taxi_rows

    rows = read_taxi_rows(3000)
    (tmp_path / "input").mkdir()
    with open(tmp_path / "input" / "taxi.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    theirs_artifact, mine_artifact = [], []
    theirs = run_executor(tfx_csv.Executor, tmp_path / "input", tmp_path / "tfx", theirs_artifact)
    mine = run_executor(ours.Executor, tmp_path / "input", tmp_path / "ours", mine_artifact)

    assert {split: sorted(canonical(r) for r in records) for split, records in theirs.items()} == mine
    assert 900 < len(mine["eval"]) < 1100 and len(mine["train"]) + len(mine["eval"]) == 3000
    assert mine_artifact[0].split_names == theirs_artifact[0].split_names == '["train", "eval"]'
    assert mine_artifact[0].get_string_custom_property("payload_format") == \
        theirs_artifact[0].get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert sorted(p.name for p in (tmp_path / "ours" / "Split-train").iterdir()) == [
        f"{direct_write.FILE_PREFIX}-{shard:05d}-of-{direct_write.os.cpu_count():05d}.gz"
        for shard in range(direct_write.os.cpu_count())]


def test_feature_entries_are_sorted_on_the_bytes_as_protobuf_sorts_them():
    import random

    from tensorflow.core.example import example_pb2

    from components.span_example_gen.arrow_csv import sorted_features

    names = ["trip_miles", "fare", "company", "tips", "a", "ab", "pickup_latitude", "pickup_longitude"]
    rng = random.Random(3)

    def example(order, values):
        built = example_pb2.Example()
        for name in order:  # the cpp implementation serializes map entries in insertion order
            feature = built.features.feature[name]
            value = values.get(name)
            if isinstance(value, float):
                feature.float_list.value.append(value)
            elif isinstance(value, bytes):
                feature.bytes_list.value.append(value)
        return built.SerializeToString()

    records = []
    for index in range(200):
        order = rng.sample(names, len(names))
        records.append(example(order, {"fare": index * 1.5, "company": b"x" * (index % 300),
                                       "tips": float(index), "a": b"\n" * (index % 3)}))
    expected = [canonical(record) for record in records]
    assert any(record != canonical(record) for record in records)  # the input really is out of order
    assert sorted_features(records, names) == expected
    # Examples whose keys differ from the column names: each is re-serialized as it is.
    assert sorted_features(records, names[:-1]) == expected
    odd = [example(["fare", "tips"], {"fare": 1.0}), *records[:3]]
    assert sorted_features(odd, names) == [canonical(record) for record in odd]
    assert sorted_features([], names) == []


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
