"""What the run report reads besides ML Metadata: TFDV's statistics and TensorBoard's event files.

Neither imports TensorFlow: the statistics are a protobuf file, and TensorBoard
reads its event files with its own stub.
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field

from components.validation_gate.anomalies import STATISTICS_FILE

CURVE_METRICS = {"loss": "epoch_loss", "AUC": "epoch_auc"}
TOP_VALUES = 3


@dataclass
class FeatureRow:
    name: str
    kind: str  # "numeric" or "string"
    count: int
    missing_pct: float
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    unique: int | None = None
    top: list[tuple[str, int]] = field(default_factory=list)
    previous: FeatureRow | None = None


def read_statistics(uri: str, split: str = "train") -> tuple[int, list[FeatureRow]] | None:
    """(examples, one row per feature) of one split of an ExampleStatistics artifact."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = os.path.join(uri, f"Split-{split}", STATISTICS_FILE)
    if not os.path.isfile(path):
        return None
    statistics = statistics_pb2.DatasetFeatureStatisticsList()
    with open(path, "rb") as reader:
        statistics.ParseFromString(reader.read())
    dataset = statistics.datasets[0]
    return dataset.num_examples, sorted((_feature_row(f) for f in dataset.features), key=lambda r: r.name)


def _feature_row(feature) -> FeatureRow:
    name = ".".join(feature.path.step) or feature.name
    if feature.HasField("num_stats"):
        stats = feature.num_stats
        common = stats.common_stats
        return FeatureRow(name, "numeric", common.num_non_missing, _missing_pct(common), mean=stats.mean,
                          std=stats.std_dev, min=stats.min, max=stats.max)
    stats = feature.string_stats
    common = stats.common_stats
    top = [(value.value, int(value.frequency)) for value in stats.top_values[:TOP_VALUES]]
    return FeatureRow(name, "string", common.num_non_missing, _missing_pct(common), unique=stats.unique,
                      top=top)


def _missing_pct(common) -> float:
    total = common.num_non_missing + common.num_missing
    return 100.0 * common.num_missing / total if total else 0.0


def read_epoch_curves(model_run_dir: str) -> dict[str, dict[str, list[float]]]:
    """metric -> split -> value per epoch, from the Keras TensorBoard event files."""
    _tensorboard_without_tensorflow()
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    curves: dict[str, dict[str, list[float]]] = {}
    for split in ("train", "validation"):
        folder = os.path.join(model_run_dir, split)
        if not os.path.isdir(folder):
            continue
        events = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.TENSORS: 0})
        events.Reload()
        tags = set(events.Tags()["tensors"])
        for label, tag in CURVE_METRICS.items():
            if tag in tags:
                points = sorted((e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                                for e in events.Tensors(tag))
                curves.setdefault(label, {})[split] = [value for _, value in points]
    return curves


def _tensorboard_without_tensorflow() -> None:
    """Lets TensorBoard read event files with its own TF stub instead of importing TensorFlow (13 s).

    ``tensorboard.compat.notf`` is TensorBoard's own switch for that (its
    no-TensorFlow build ships the module); registering it has no effect when
    TensorFlow is already loaded, as after a pipeline run in this process.
    """
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
