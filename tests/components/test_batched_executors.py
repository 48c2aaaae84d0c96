"""The batched Transform executor against TFX's own, on the same taxi examples and preprocessing_fn.

Both executors run for real on the Beam DirectRunner. The analysis must give
the same vocabularies; the transformed examples must be the same rows: every
id and bucket equal, every scaled number equal up to float rounding (the two
sum the mean and variance over batches of other sizes).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from components.batched_io.write import TEMP_FOLDER_PREFIX
from tests.conftest import PROJECT_ROOT, read_taxi_rows, serialized_examples

SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
BEAM_ARGS = ["--direct_running_mode=in_memory", "--sdk_container_image=unused-by-direct-runner"]


@pytest.fixture(scope="module")
def examples_uri(tmp_path_factory) -> Path:
    """An Examples artifact folder of 3,000 taxi rows: train in two files, eval in one."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("examples")
    records = serialized_examples(read_taxi_rows(3000), SCHEMA)
    files = {"Split-train/data_tfrecord-00000-of-00002.gz": records[:1000],
             "Split-train/data_tfrecord-00001-of-00002.gz": records[1000:2000],
             "Split-eval/data_tfrecord-00000-of-00001.gz": records[2000:]}
    for name, part in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(folder / name), options) as writer:
            for record in part:
                writer.write(record)
    return folder


def transform_config() -> str:
    from configs.settings import load_config

    config = load_config(check_paths=False)
    return json.dumps({"features": config.features.model_dump(), "label": config.label.model_dump()})


def run_transform(executor_class, examples_uri: Path, output: Path) -> Path:
    from tfx.components.transform.executor import Executor as TFXExecutor
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs

    examples = standard_artifacts.Examples()
    examples.uri = str(examples_uri)
    examples.split_names = json.dumps(["train", "eval"])
    schema = standard_artifacts.Schema()
    schema.uri = str(SCHEMA.parent)
    outputs = {specs.TRANSFORM_GRAPH_KEY: [standard_artifacts.TransformGraph()],
               specs.TRANSFORMED_EXAMPLES_KEY: [standard_artifacts.Examples()]}
    for key, (artifact,) in outputs.items():
        artifact.uri = str(output / key)
    exec_properties = {specs.PREPROCESSING_FN_KEY: "trainer.preprocessing.preprocessing_fn",
                       specs.CUSTOM_CONFIG_KEY: transform_config(), specs.DISABLE_STATISTICS_KEY: 1,
                       specs.FORCE_TF_COMPAT_V1_KEY: 1}  # as the pipeline runs it
    context = TFXExecutor.Context(beam_pipeline_args=BEAM_ARGS, tmp_dir=str(output / "tmp"), unique_id="1")
    executor_class(context).Do({specs.EXAMPLES_KEY: [examples], specs.SCHEMA_KEY: [schema]}, outputs,
                               exec_properties)
    return output


def transformed_rows(output: Path, split: str) -> dict[tuple, list[tuple]]:
    """The split's transformed examples, grouped by their integer features; each group's float rows sorted."""
    import tensorflow as tf

    files = sorted(str(path) for path in (output / "transformed_examples" / f"Split-{split}").iterdir())
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for record in tf.data.TFRecordDataset(files, "GZIP").as_numpy_iterator():
        features = tf.train.Example.FromString(record).features.feature
        ints = tuple((name, tuple(features[name].int64_list.value)) for name in sorted(features)
                     if features[name].HasField("int64_list"))
        floats = tuple(tuple(features[name].float_list.value) for name in sorted(features)
                       if features[name].HasField("float_list"))
        groups[ints].append(floats)
    return {key: sorted(rows) for key, rows in groups.items()}


@pytest.fixture(scope="module")
def outputs(examples_uri, tmp_path_factory) -> tuple[Path, Path]:
    from tfx.components.transform.executor import Executor as TFXExecutor

    from components.batched_io.executors import TransformExecutor

    stock = run_transform(TFXExecutor, examples_uri, tmp_path_factory.mktemp("tfx_transform"))
    batched = run_transform(TransformExecutor, examples_uri, tmp_path_factory.mktemp("batched_transform"))
    return stock, batched


def test_the_analysis_gives_the_same_vocabularies(outputs):
    stock, batched = outputs
    assets = stock / "transform_graph" / "transform_fn" / "assets"
    names = sorted(path.name for path in assets.iterdir())
    assert names == ["company_vocab", "payment_type_vocab"]
    for name in names:
        assert (batched / "transform_graph" / "transform_fn" / "assets" / name).read_text() == \
            (assets / name).read_text()


@pytest.mark.parametrize("split", ["train", "eval"])
def test_the_transformed_examples_are_the_same_rows(outputs, split):
    import numpy as np

    stock, batched = (transformed_rows(output, split) for output in outputs)
    assert sum(map(len, stock.values())) == {"train": 2000, "eval": 1000}[split]
    assert stock.keys() == batched.keys()
    for key, rows in stock.items():
        assert len(batched[key]) == len(rows)
        np.testing.assert_allclose(np.array(batched[key]), np.array(rows), rtol=1e-5, atol=1e-5)


def test_the_output_folders_hold_only_the_named_shards(outputs):
    _, batched = outputs
    for split in ("train", "eval"):
        names = sorted(path.name for path in (batched / "transformed_examples" / f"Split-{split}").iterdir())
        assert names and not any(name.startswith(TEMP_FOLDER_PREFIX) for name in names)
        assert all(name.startswith("transformed_examples-") and name.endswith(".gz") for name in names)


def test_tfxs_own_names_are_back_after_the_run(outputs):
    from tfx.components.transform import executor as tfx_transform
    from tfx.components.util import tfxio_utils

    from components.batched_io import executors

    assert tfx_transform.TransformProcessor is not executors.BatchedIOProcessor
    assert tfxio_utils.make_tfxio is not executors._make_tfxio


# StatisticsGen and the Evaluator: each replayed on the inputs and parameters a real run recorded.

def replay(output: Path, component: str, executor_class, destination: Path) -> dict[str, list]:
    """Runs an executor on the inputs and parameters of a run's completed `component`; returns its outputs."""
    from tfx.types import artifact_utils

    from pipeline.metadata import store as mlmd

    store = mlmd.open_store(mlmd.sqlite_connection(output / "metadata.sqlite", read_only=True))
    (execution,) = [item.execution for run in mlmd.pipeline_runs(store)[-1:]
                    for item in mlmd.component_executions(store, run)
                    if item.component == component and item.state == "COMPLETE"]
    by_key: dict[tuple[int, str], list] = defaultdict(list)
    for event in store.get_events_by_execution_ids([execution.id]):
        (artifact,) = store.get_artifacts_by_id([event.artifact_id])
        (artifact_type,) = store.get_artifact_types_by_id([artifact.type_id])
        by_key[(event.type, event.path.steps[0].key)].append(
            artifact_utils.deserialize_artifact(artifact_type, artifact))
    inputs = {key: artifacts for (kind, key), artifacts in by_key.items() if kind == 3}  # INPUT
    outputs = {}
    for (kind, key), artifacts in by_key.items():
        if kind == 4:  # OUTPUT: fresh artifacts of the same types, in the destination
            fresh = type(artifacts[0])()
            fresh.uri = str(destination / key)
            Path(fresh.uri).mkdir(parents=True)
            outputs[key] = [fresh]
    exec_properties = {key: value.string_value or value.int_value
                       for key, value in execution.custom_properties.items() if not key.startswith("__")}
    context = executor_class.Context(beam_pipeline_args=BEAM_ARGS, tmp_dir=str(destination / "tmp"),
                                     unique_id="1")
    executor_class(context).Do(inputs, outputs, exec_properties)
    return outputs


def comparable(message) -> dict:
    """A proto as a dict, TFDV's approximate quantile histograms left out (they depend on the batching)."""
    from google.protobuf.json_format import MessageToDict

    def walk(value):
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value
                    if not (isinstance(item, dict) and item.get("type") == "QUANTILES")]
        return value

    return walk(MessageToDict(message))


def assert_close(actual, expected, path: str = "") -> None:
    """Equal structure; counts and text exact, floating-point values to 1e-6 relative."""
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), path
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            assert_close(left, right, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-6, abs=1e-9), path
    else:
        assert actual == expected, path


@pytest.mark.e2e
def test_statistics_gen_gives_tfxs_statistics(pipeline_runs, tmp_path):
    import tensorflow_data_validation as tfdv
    from tfx.components.statistics_gen.executor import Executor as TFXExecutor

    from components.batched_io.executors import StatisticsGenExecutor

    output = pipeline_runs[0]
    stock = replay(output, "StatisticsGen", TFXExecutor, tmp_path / "stock")["statistics"][0]
    batched = replay(output, "StatisticsGen", StatisticsGenExecutor, tmp_path / "batched")["statistics"][0]
    for split in ("train", "eval"):
        files = [Path(stats.uri) / f"Split-{split}" / "FeatureStats.pb" for stats in (stock, batched)]
        expected, actual = (tfdv.load_stats_binary(str(path)) for path in files)
        assert expected.datasets[0].num_examples > 0
        assert_close(comparable(actual), comparable(expected), split)


@pytest.mark.e2e
def test_the_evaluator_gives_tfxs_metrics_and_blessing(pipeline_runs, tmp_path):
    from tfx.components.evaluator.executor import Executor as TFXExecutor

    from components.batched_io.executors import EvaluatorExecutor
    from pipeline.metadata.tfma_results import read_evaluation

    output = pipeline_runs[0]
    stock = replay(output, "Evaluator", TFXExecutor, tmp_path / "stock")
    batched = replay(output, "Evaluator", EvaluatorExecutor, tmp_path / "batched")
    expected, actual = (read_evaluation(outputs["evaluation"][0].uri) for outputs in (stock, batched))
    assert len(expected.slices) > 10 and "Overall" in str(list(expected.slices))
    assert actual.slices.keys() == expected.slices.keys()
    for name, metrics in expected.slices.items():
        assert actual.slices[name] == pytest.approx(metrics, rel=1e-5, nan_ok=True), name
    assert sorted(os.listdir(batched["blessing"][0].uri)) == sorted(os.listdir(stock["blessing"][0].uri))
