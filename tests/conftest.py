"""Shared fixtures: small slices of the real taxi CSV shipped in the tfx package."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from data.prepare import packaged_taxi_csv, write_sample
from pipeline.metadata import store as mlmd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def missing_system_package(reason: str) -> None:
    """A test that needs a system package: skipped with the reason on a developer's machine, failed on CI.

    make setup and make test install the packages as root, so on CI (CI=true) a missing one
    is a broken setup, never a silent pass.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def read_taxi_rows(count: int | None = None, start: int = 0) -> list[dict[str, str]]:
    """Rows of the packaged taxi CSV, as strings: `count` of them from data row `start`."""
    with packaged_taxi_csv().open(encoding="utf-8") as reader:
        rows = list(csv.DictReader(reader))
    return rows[start:] if count is None else rows[start : start + count]


def cli(*args: str) -> list[str]:
    """The command line of `python -m pipeline ...` with this interpreter."""
    return [sys.executable, "-m", "pipeline", *args]


@pytest.fixture(scope="session")
def taxi_sample_dir(tmp_path_factory) -> Path:
    """A folder holding the first 3,000 rows of the taxi CSV."""
    folder = tmp_path_factory.mktemp("taxi_sample")
    write_sample(folder, 3000)
    return folder


def serialized_examples(rows: list[dict[str, str]], schema_path: Path, drop: tuple[str, ...] = ()):
    """Raw CSV rows as serialized tf.Examples typed by the schema; missing values are left out."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils

    schema = io_utils.SchemaReader().read(str(schema_path))
    examples = []
    for row in rows:
        features = {}
        for feature in schema.feature:
            text = row.get(feature.name, "")
            if feature.name in drop or text == "":
                continue
            if feature.type == schema_pb2.FLOAT:
                features[feature.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
            elif feature.type == schema_pb2.INT:
                features[feature.name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(float(text))]))
            else:
                features[feature.name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[text.encode()]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    return examples


# The e2e test checks plumbing, not model quality, so the bounds are loose.
RUN_OVERRIDES = [
    "--set", "training.epochs=4",
    "--set", "evaluation.thresholds=[{metric: auc, lower_bound: 0.8}, "
             "{metric: binary_accuracy, lower_bound: 0.8}]",
]


def run_pipeline_cli(data: Path, output: Path, *extra: str, env: dict | None = None
                     ) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli("run", "--data", str(data), "--output", str(output), *RUN_OVERRIDES, *extra),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, env=env,
    )


@dataclass(frozen=True)
class Tripwire:
    """An environment in which importing TensorFlow or TFX fails and leaves a mark.

    Commands that must not load them (config errors, bad data, an up-to-date
    rerun, lineage) are run in it: the mark proves what a stopwatch only hints.
    """

    env: dict
    marker: Path

    @property
    def tripped(self) -> str | None:
        return self.marker.read_text() if self.marker.exists() else None


def tensorflow_tripwire(folder: Path) -> Tripwire:
    marker = folder / "imported"
    for name in ("tensorflow", "tfx"):
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"import pathlib\npathlib.Path({str(marker)!r}).write_text({name!r})\n"
            f"raise ImportError('{name} must not be imported by this command')\n")
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return Tripwire({**os.environ, "PYTHONPATH": path}, marker)


@pytest.fixture
def tripwire(tmp_path_factory) -> Tripwire:
    return tensorflow_tripwire(tmp_path_factory.mktemp("tripwire"))


def store_of(output: Path):
    return mlmd.open_store(mlmd.sqlite_connection(output / "metadata.sqlite", read_only=True))


@dataclass
class UnchangedRerun:
    """`run` once more with nothing changed: its output, seconds, and the run count before and after."""

    result: subprocess.CompletedProcess
    seconds: float
    runs_before: int
    runs_after: int
    tripwire: Tripwire


@pytest.fixture(scope="session")
def pipeline_runs(taxi_sample_dir, tmp_path_factory):
    """CLI runs into one output folder: (output, first, second, artifact ids after the first, third).

    The second is `run --force` with nothing changed (TFX's cache at work); the
    third is a plain `run`, which finds the pipeline up to date.
    """
    output = tmp_path_factory.mktemp("e2e_output")
    first = run_pipeline_cli(taxi_sample_dir, output)
    assert first.returncode == 0, first.stdout + first.stderr
    artifacts_after_first = {a.id for a in store_of(output).get_artifacts()}
    second = run_pipeline_cli(taxi_sample_dir, output, "--force")
    assert second.returncode == 0, second.stdout + second.stderr
    runs_before = len(mlmd.pipeline_runs(store_of(output)))
    wire = tensorflow_tripwire(tmp_path_factory.mktemp("tripwire"))
    started = time.perf_counter()
    third = run_pipeline_cli(taxi_sample_dir, output, env=wire.env)
    seconds = time.perf_counter() - started
    unchanged = UnchangedRerun(third, seconds, runs_before, len(mlmd.pipeline_runs(store_of(output))),
                               wire)
    return output, first, second, artifacts_after_first, unchanged


def sigint_as_in_a_terminal() -> None:
    """preexec_fn for a child that a test stops with SIGINT: its default action, as under a terminal.

    A shell's background job (`make test &`) and nohup start with SIGINT
    ignored, and every child inherits that; a Python child then never raises
    KeyboardInterrupt, and the test would wait on a process that cannot stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)

