"""Retrains on the Transform outputs of an earlier pipeline run, without the pipeline.

For trying hyperparameters quickly, for the replica benchmark, and for the
trainer tests. Runs the same train_and_export as the Trainer component.

    python -m trainer.standalone PIPELINE_ROOT WORK_DIR [--set training.key=value ...]
        [--interrupt-after-epochs N]

Prints one JSON line: the training record, or the error that stopped training.
--interrupt-after-epochs simulates a crash once that epoch is backed up, to
exercise BackupAndRestore.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import sys

from configs.settings import DEFAULT_CONFIG, load_config


class SimulatedCrash(Exception):
    """Raised by --interrupt-after-epochs."""


def latest_artifact(pattern: str) -> str:
    matches = sorted(glob.glob(pattern), key=lambda path: int(os.path.basename(path)))
    if not matches:
        raise SystemExit(f"no artifact matches {pattern}; run the pipeline first")
    return matches[-1]


def fn_args_for(pipeline_root: str, work_dir: str, config) -> tuple:
    """(FnArgs as the Trainer would get them, transform graph uri) for the newest Transform outputs."""
    from tfx.components.trainer import fn_args_utils
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = latest_artifact(os.path.join(pipeline_root, "Transform", "transformed_examples", "*"))
    examples.split_names = json.dumps(["train", "eval"])
    graph = standard_artifacts.TransformGraph()
    graph.uri = latest_artifact(os.path.join(pipeline_root, "Transform", "transform_graph", "*"))
    custom_config = {
        "features": config.features.model_dump(),
        "label": config.label.model_dump(),
        "training": config.training.model_dump(),
        "backup_root": os.path.join(work_dir, "backups"),
    }
    fn_args = fn_args_utils.get_common_fn_args(
        {"examples": [examples], "transform_graph": [graph]},
        {"train_args": "{}", "eval_args": "{}", "custom_config": json.dumps(custom_config)},
    )
    fn_args.serving_model_dir = os.path.join(work_dir, "serving_model")
    fn_args.model_run_dir = os.path.join(work_dir, "model_run")
    return fn_args, graph.uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.standalone", description=__doc__.split("\n")[0])
    parser.add_argument("pipeline_root", help="pipeline root of an earlier run (its Transform outputs)")
    parser.add_argument("work_dir", help="where the model, logs and backups go")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--interrupt-after-epochs", type=int, default=0)
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides, check_paths=False)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # SIGTERM unwinds like Ctrl-C, so that multi-worker training stops its workers on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    from trainer.distribution import configure_devices

    configure_devices(config.training.cpu_replicas)
    import keras

    from trainer.record import read_training_record
    from trainer.run import train_and_export, train_on_workers

    fn_args, graph_uri = fn_args_for(args.pipeline_root, args.work_dir, config)

    def train(fn_args, extra) -> dict:
        """Trains as run_fn does; --interrupt-after-epochs needs a single process."""
        if config.training.workers > 1:
            train_on_workers(fn_args)
            return read_training_record(fn_args.model_run_dir)
        return train_and_export(fn_args, extra).__dict__

    class InterruptAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 >= args.interrupt_after_epochs:
                raise SimulatedCrash(f"interrupted after epoch {epoch + 1}")

    extra = (InterruptAfter(),) if args.interrupt_after_epochs else ()
    try:
        record = train(fn_args, extra)
    except Exception as error:  # reported as data to the caller
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
        return 0
    print(json.dumps({"record": record, "model_run_dir": fn_args.model_run_dir,
                      "serving_model_dir": fn_args.serving_model_dir, "transform_graph": graph_uri}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
