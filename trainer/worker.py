"""One process of a multi-worker training: `python -m trainer.worker --spec-json JSON`.

Started by trainer.workers on this machine, or as a replica of a TFJob on
Kubernetes (trainer.tfjob); either way TF_CONFIG names the cluster and this
worker's index, and worker 0 is the chief. Every worker runs the same
program, saving included: Keras' metric variables are summed across workers
when read, so a save on the chief alone would wait for peers that never come.
The chief writes the Trainer's real outputs; the others write theirs into a
temporary folder, removed when they are done.

A worker that fails prints its error as its last line (WORKER_ERROR_PREFIX),
for the launcher's one-line message, and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

from trainer.workers import LEGACY_KERAS_ENV, WORKER_ERROR_PREFIX, WorkerSpec


@dataclass(frozen=True)
class WorkerRole:
    index: int
    count: int

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @classmethod
    def from_tf_config(cls, text: str) -> WorkerRole:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        if config["task"]["type"] != "worker" or set(config["cluster"]) - {"worker"}:
            raise ValueError(f"TF_CONFIG: only 'worker' tasks are supported, got {text}")
        return cls(index=int(config["task"]["index"]), count=len(workers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--spec-json", required=True, help="the WorkerSpec, as JSON")
    args = parser.parse_args(argv)
    # Before any import of Keras or TensorFlow (trainer.keras_choice).
    os.environ[LEGACY_KERAS_ENV] = "1"
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    try:
        role = WorkerRole.from_tf_config(os.environ["TF_CONFIG"])
        train(WorkerSpec.from_json(args.spec_json), role)
    except BaseException as error:  # reported to the launcher, then the exit code says it
        print(f"{WORKER_ERROR_PREFIX}{json.dumps({'type': type(error).__name__, 'message': str(error)})}",
              flush=True)
        raise
    return 0


def train(spec: WorkerSpec, role: WorkerRole) -> None:
    from trainer.distribution import make_multi_worker_strategy

    # The strategy first: collective ops must be configured before any other op.
    strategy, plan = make_multi_worker_strategy(role.count)
    scratch = None if role.is_chief else tempfile.mkdtemp(prefix=f"worker-{role.index}-",
                                                          dir=spec.scratch_root)
    try:
        from trainer.run import train_and_export

        train_and_export(worker_fn_args(spec, scratch), strategy_and_plan=(strategy, plan))
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def worker_fn_args(spec: WorkerSpec, scratch: str | None):
    """The Trainer's FnArgs, rebuilt from the spec; a non-chief's outputs go to `scratch`."""
    from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
    from tfx.components.util import tfxio_utils
    from tfx.proto import example_gen_pb2

    def tf_dataset_factory(file_pattern, options, schema):
        # Transform writes tf.Example records, as TFX's own accessor would read them.
        return tfxio_utils.make_tfxio(
            file_pattern, ["taxi-tfx", "Trainer"], example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE,
            schema=schema).TensorFlowDataset(options)

    outputs = (spec.serving_model_dir, spec.model_run_dir) if scratch is None else (
        os.path.join(scratch, "serving_model"), os.path.join(scratch, "model_run"))
    return FnArgs(
        train_files=spec.train_files,
        eval_files=spec.eval_files,
        transform_graph_path=spec.transform_graph,
        transform_output=spec.transform_graph,
        serving_model_dir=outputs[0],
        model_run_dir=outputs[1],
        custom_config=spec.custom_config,
        hyperparameters=spec.hyperparameters,
        data_accessor=DataAccessor(tf_dataset_factory=tf_dataset_factory, record_batch_factory=None,
                                   data_view_decode_fn=None),
    )


if __name__ == "__main__":
    sys.exit(main())
