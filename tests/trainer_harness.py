"""Runs the real trainer.run.run_fn on the Transform outputs of an earlier pipeline run.

Used by the trainer tests in a subprocess of its own, because MirroredStrategy's
logical CPU devices must be set up before TensorFlow initialises. Prints one JSON
line: the training record, or the error that stopped training.

    python -m tests.trainer_harness PIPELINE_ROOT WORK_DIR [--set training.key=value ...]
        [--interrupt-after-epochs N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

from configs.settings import DEFAULT_CONFIG, load_config


def _latest(pattern: str) -> str:
    matches = sorted(glob.glob(pattern), key=lambda path: int(os.path.basename(path)))
    if not matches:
        raise SystemExit(f"no artifact matches {pattern}")
    return matches[-1]


class _Interrupt(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline_root")
    parser.add_argument("work_dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--interrupt-after-epochs", type=int, default=0)
    args = parser.parse_args()
    config = load_config(DEFAULT_CONFIG, args.overrides, check_paths=False)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from trainer.distribution import configure_devices

    configure_devices(config.training.cpu_replicas)
    import keras
    from tfx.components.trainer import fn_args_utils
    from tfx.types import standard_artifacts

    from trainer import run

    examples = standard_artifacts.Examples()
    examples.uri = _latest(os.path.join(args.pipeline_root, "Transform", "transformed_examples", "*"))
    examples.split_names = json.dumps(["train", "eval"])
    graph = standard_artifacts.TransformGraph()
    graph.uri = _latest(os.path.join(args.pipeline_root, "Transform", "transform_graph", "*"))
    custom_config = {
        "features": config.features.model_dump(),
        "label": config.label.model_dump(),
        "training": config.training.model_dump(),
        "backup_root": os.path.join(args.work_dir, "backups"),
    }
    fn_args = fn_args_utils.get_common_fn_args(
        {"examples": [examples], "transform_graph": [graph]},
        {"train_args": "{}", "eval_args": "{}", "custom_config": json.dumps(custom_config)},
    )
    fn_args.serving_model_dir = os.path.join(args.work_dir, "serving_model")
    fn_args.model_run_dir = os.path.join(args.work_dir, "model_run")

    if args.interrupt_after_epochs:
        # Simulates a crash: raise once BackupAndRestore has saved that epoch.
        stock_callbacks = run.training_callbacks

        class InterruptAfter(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch + 1 >= args.interrupt_after_epochs:
                    raise _Interrupt(f"interrupted after epoch {epoch + 1}")

        run.training_callbacks = lambda *a: [*stock_callbacks(*a), InterruptAfter()]
    try:
        run.run_fn(fn_args)
    except Exception as error:  # reported to the test as data
        import traceback

        traceback.print_exc()
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
        return
    with open(os.path.join(fn_args.model_run_dir, run.TRAINING_RECORD)) as reader:
        print(json.dumps({"record": json.load(reader), "model_run_dir": fn_args.model_run_dir,
                          "serving_model_dir": fn_args.serving_model_dir,
                          "transform_graph": graph.uri}))


if __name__ == "__main__":
    sys.exit(main())
