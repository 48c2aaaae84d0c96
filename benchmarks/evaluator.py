"""Where the Evaluator's time goes: TFMA on a sample of an earlier run's eval split, by variant.

    python -m benchmarks.evaluator PIPELINE_ROOT --examples N

Runs TFMA's model analysis (the library the Evaluator component runs) with the
pipeline's model and eval config, changing one thing at a time: the slicings,
the metrics. All variants run in this one process on the same N examples, each
timed whole, so their differences are what that part costs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

from configs.settings import DEFAULT_CONFIG, load_config
from trainer.standalone import latest_artifact

# Metrics that need no confusion matrix (the AUC, accuracy, precision and recall family).
LIGHT_METRICS = ["example_count", "mean_label", "mean_prediction", "calibration"]


def variants(evaluation: dict) -> dict[str, tuple[list[list[str]], list[str] | None, bool, bool]]:
    """Name -> (slicings, metrics, TFMA's built-in metric classes?, grouped by slice?); None: every metric.

    Grouped: the Evaluator's extractors (components.evaluation.custom_extractors),
    one extract per slice and batch; otherwise TFMA's, one per example and slice.
    """
    from components.evaluation import REPORTED_METRICS

    every = evaluation["slices"]
    everything = f"every slicing ({len(every)}), every metric ({len(REPORTED_METRICS)})"
    return {
        "floor: overall slice, example count only, grouped by slice": ([[]], ["example_count"], False, True),
        "overall slice, every metric, TFMA's built-in metrics": ([[]], None, True, False),
        f"every slicing ({len(every)}), metrics without confusion matrices, TFMA's built-in metrics":
            (every, LIGHT_METRICS, True, False),
        f"{everything}, TFMA's built-in metrics (before)": (every, None, True, False),
        f"{everything}, one shared combiner, one example at a time": (every, None, False, False),
        f"{everything}, one shared combiner, grouped by slice: as configured": (every, None, False, True),
    }


def write_sample(pipeline_root: str, examples: int, path: str) -> int:
    """The first `examples` records of the newest eval split, to one TFRecord file; returns how many."""
    import tensorflow as tf

    split = latest_artifact(os.path.join(pipeline_root, "CsvExampleGen", "examples", "*"))
    files = sorted(glob.glob(os.path.join(split, "Split-eval", "*")))
    written = 0
    with tf.io.TFRecordWriter(path) as writer:
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").take(examples):
            writer.write(record.numpy())
            written += 1
    return written


def time_variant(model_dir: str, evaluation: dict, slicings, metrics, builtin: bool, grouped: bool,
                 sample: str, output: str) -> float:
    import tensorflow_model_analysis as tfma

    from components.evaluation import build_eval_config, custom_extractors

    eval_config = build_eval_config({**evaluation, "slices": slicings}, metrics, builtin_metrics=builtin)
    for metric in eval_config.metrics_specs[0].metrics:
        # The change threshold needs a baseline model; the cost of metrics is what is measured here.
        metric.ClearField("per_slice_thresholds")
    started = time.perf_counter()
    model = tfma.default_eval_shared_model(model_dir, eval_config=eval_config)
    extractors = custom_extractors(model, eval_config) if grouped else None
    tfma.run_model_analysis(eval_shared_model=model, eval_config=eval_config, data_location=sample,
                            file_format="tfrecords", output_path=output, extractors=extractors)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evaluator",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("pipeline_root")
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    evaluation = load_config(args.config, check_paths=False).evaluation.model_dump()
    model_dir = os.path.join(latest_artifact(os.path.join(args.pipeline_root, "Trainer", "model", "*")),
                             "Format-Serving")
    with tempfile.TemporaryDirectory(prefix="bench-evaluator-") as work:
        sample = os.path.join(work, "eval.tfrecord")
        examples = write_sample(args.pipeline_root, args.examples, sample)
        # One unreported pass first: Beam's and TFMA's first-use costs would otherwise land on the floor.
        time_variant(model_dir, evaluation, *next(iter(variants(evaluation).values())), sample,
                     os.path.join(work, "warm-up"))
        seconds = {name: round(time_variant(model_dir, evaluation, *variant, sample,
                                            os.path.join(work, str(index))), 2)
                   for index, (name, variant) in enumerate(variants(evaluation).items())}
    print(json.dumps({"examples": examples, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
