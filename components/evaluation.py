"""Builds the TFMA EvalConfig from the evaluation section of the configuration."""

from __future__ import annotations

import logging
from typing import Any

import tensorflow_model_analysis as tfma

from components import slice_groups
from components.binary_metrics import BUILTIN_CLASSES, CLASSES, MODULE
from trainer.export import SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from trainer.features import LABEL_KEY

PREDICTION_KEY = "probabilities"
# The Evaluator's module_path: TFX calls custom_extractors() from it.
EXTRACTORS_MODULE = __name__
# Reported for every slice, in this order; thresholds are added to the ones configured.
REPORTED_METRICS = list(BUILTIN_CLASSES)
# AUC and PR-AUC are computed at every distinct prediction by the shared
# combiner (components/binary_metrics.py), so no num_thresholds option is set:
# an option is a JSON string inside the Evaluator's eval_config, and MLMD's
# PostgreSQL backend fails to store a property holding the escaped quotes that
# makes (syntax error at "E'{").


def build_eval_config(evaluation: dict[str, Any], metrics: list[str] | None = None,
                      builtin_metrics: bool = False) -> tfma.EvalConfig:
    """EvalConfig with the configured slices and thresholds.

    Absolute lower bounds gate every run, the first one included. The AUC change
    threshold compares with the baseline (the model served now) and is
    ignored by TFMA when there is no baseline yet.

    Args:
      evaluation: the ``evaluation`` section of the pipeline config, as a dict.
      metrics: metric names to compute (default: REPORTED_METRICS); thresholds
        on metrics left out are dropped.
      builtin_metrics: TFMA's own metric classes (a combiner or more per
        metric) instead of the shared one; for comparisons only.
    """
    thresholds = {
        item["metric"]: tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": item["lower_bound"]})
        )
        for item in evaluation["thresholds"]
    }
    auc = thresholds.setdefault("auc", tfma.MetricThreshold())
    auc.change_threshold.CopyFrom(
        tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -evaluation["max_auc_drop_vs_baseline"]},
        )
    )
    # A bare MetricConfig.threshold would apply to every slice, tiny ones included
    # (a 4-example slice would block every model), so bounds are set on the
    # overall slice explicitly.
    overall = [tfma.SlicingSpec()]
    metric_configs = [
        tfma.MetricConfig(
            **_metric_class(name, builtin_metrics),
            per_slice_thresholds=(
                [tfma.PerSliceMetricThreshold(slicing_specs=overall, threshold=thresholds[name])]
                if name in thresholds
                else []
            ),
        )
        for name in (REPORTED_METRICS if metrics is None else metrics)
    ]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=SERVING_SIGNATURE,
                label_key=LABEL_KEY,
                prediction_key=PREDICTION_KEY,
                preprocessing_function_names=[TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(feature_keys=keys) for keys in evaluation["slices"]],
        metrics_specs=[tfma.MetricsSpec(metrics=metric_configs)],
    )


def _metric_class(name: str, builtin: bool) -> dict[str, str]:
    """MetricConfig fields naming the class that computes metric `name`."""
    if builtin:
        return {"class_name": BUILTIN_CLASSES[name]}
    return {"class_name": CLASSES[name].__name__, "module": MODULE}


def custom_extractors(eval_shared_model, eval_config: tfma.EvalConfig, tensor_adapter_config=None) -> list:
    """The Evaluator's extractors (TFX's hook, read through EXTRACTORS_MODULE).

    TFMA's defaults, ending in one extract per slice and batch
    (components/slice_groups.py) when every metric is one of the shared
    binary metrics, the only combiners that read such extracts, and the
    config's slicing and options allow it; otherwise TFMA's defaults unchanged.
    """
    extractors = tfma.default_extractors(eval_shared_model=eval_shared_model, eval_config=eval_config,
                                         tensor_adapter_config=tensor_adapter_config)
    if all(metric.module == MODULE for spec in eval_config.metrics_specs for metric in spec.metrics) \
            and slice_groups.supports(eval_config):
        logging.info("Evaluator: TFMA's extractors, sliced one batch at a time (components/slice_groups.py)")
        return slice_groups.with_slice_groups(extractors, eval_config)
    logging.info("Evaluator: TFMA's extractors, sliced one example at a time (metrics or options "
                 "that need one element per example)")
    return extractors
