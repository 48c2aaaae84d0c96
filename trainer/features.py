"""Feature declarations as the trainer sees them.

TFX hands the trainer code its settings as ``custom_config`` (a JSON dict), built by
the pipeline from configs/. This module turns that dict into a small typed view and
owns the naming of transformed features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LABEL_KEY = "big_tipper_xf"
TRANSFORMED_SUFFIX = "_xf"


def transformed_name(column: str) -> str:
    return column + TRANSFORMED_SUFFIX


def slice_bucket_name(column: str) -> str:
    return column + "_bucket"


@dataclass(frozen=True)
class LabelSpec:
    column: str
    reference_column: str | None
    fraction: float


@dataclass(frozen=True)
class FeatureSpec:
    numeric: list[str] = field(default_factory=list)
    bucketized: dict[str, int] = field(default_factory=dict)
    integer_categorical: dict[str, int] = field(default_factory=dict)
    string_categorical: dict[str, int] = field(default_factory=dict)
    slice_buckets: dict[str, list[float]] = field(default_factory=dict)

    def model_inputs(self) -> list[str]:
        """Transformed features the model reads (not the evaluation-only slice buckets)."""
        return [transformed_name(column) for column in self.raw_columns()]

    def raw_columns(self) -> list[str]:
        return [
            *self.numeric,
            *self.bucketized,
            *self.integer_categorical,
            *self.string_categorical,
        ]

    def categorical_sizes(self, vocabulary_size: dict[str, int]) -> dict[str, int]:
        """Number of distinct ids of every id-valued transformed feature.

        Args:
          vocabulary_size: computed vocabulary size of each string feature
            (without the out-of-vocabulary bucket).
        """
        # One extra id for missing (and, for integers, out-of-range) values.
        sizes = {transformed_name(c): n + 1 for c, n in self.bucketized.items()}
        sizes.update({transformed_name(c): n + 1 for c, n in self.integer_categorical.items()})
        sizes.update(
            {transformed_name(c): vocabulary_size[c] + OOV_BUCKETS for c in self.string_categorical}
        )
        return sizes


OOV_BUCKETS = 1


def feature_spec_from_config(custom_config: dict[str, Any]) -> FeatureSpec:
    features = custom_config["features"]
    return FeatureSpec(
        numeric=list(features.get("numeric", [])),
        bucketized=dict(features.get("bucketized", {})),
        integer_categorical=dict(features.get("integer_categorical", {})),
        string_categorical=dict(features.get("string_categorical", {})),
        slice_buckets={k: list(v) for k, v in features.get("slice_buckets", {}).items()},
    )


def label_spec_from_config(custom_config: dict[str, Any]) -> LabelSpec:
    label = custom_config["label"]
    return LabelSpec(
        column=label["column"],
        reference_column=label.get("reference_column"),
        fraction=float(label.get("fraction", 0.0)),
    )


def vocabulary_filename(column: str) -> str:
    return column + "_vocab"
