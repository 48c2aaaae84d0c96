"""Runs the pipeline on this machine: LocalDagRunner, ML Metadata, Beam DirectRunner.

The pipeline root, the metadata store and the serving directory all live under
``paths.output`` of the configuration, where OutputLayout puts them. The run id
is chosen by the caller, so that the run service records its facts on the run
this process started, whatever else runs against the same store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from configs.settings import PipelineConfig
from pipeline.metadata import store as mlmd
from pipeline.run.beam_overheads import tune_in_process_beam
from pipeline.run.inputs import RunInputs, local_pipeline_inputs
from pipeline.shared.gc_pace import collect_garbage_less_often

log = logging.getLogger(__name__)
# Nodes that read state outside their inputs, so that a cached result could be
# stale: the Pusher reads the serving folder (a version removed, a pin added or
# lifted since the run it would be taken from).
UNCACHED_NODES = ("Pusher",)


@dataclass
class LocalRun:
    pipeline_seconds: float
    import_seconds: float
    error: BaseException | None = None


def new_run_id() -> str:
    """An id in the form TFX's LocalDagRunner gives its runs (ISO time to the microsecond)."""
    return datetime.now().isoformat()


def local_dag_runner(run_id: str):
    """A LocalDagRunner under run_id instead of the time it starts, with UNCACHED_NODES never cached."""
    from tfx.dsl.compiler import constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    class RunIdLocalDagRunner(LocalDagRunner):
        def run_with_ir(self, pipeline, run_options=None):
            # LocalDagRunner substitutes its own id only where the parameter is still open.
            runtime_parameter_utils.substitute_runtime_parameter(
                pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
            for node in pipeline.nodes:
                if node.pipeline_node.node_info.id in UNCACHED_NODES:
                    node.pipeline_node.execution_options.caching_options.enable_cache = False
            return super().run_with_ir(pipeline, run_options)

    return RunIdLocalDagRunner()


def run_local(config: PipelineConfig, run_id: str, inputs: RunInputs,
              progress_handler: logging.Handler | None = None, rows: int | None = None) -> LocalRun:
    """Builds and runs the pipeline as run `run_id`; returns timings and the error, if a component failed.

    `inputs` is what the pre-flight check selected and `rows` the number of
    input rows it counted, if it ran.

    TensorFlow and TFX are imported here, not at module import, so that the CLI
    validates configuration before paying for them.
    """
    started = time.perf_counter()
    collect_garbage_less_often()  # before the imports, which collect too
    # Logical CPU devices for MirroredStrategy must exist before TF initialises.
    from trainer.distribution import configure_devices

    configure_devices(config.training.cpu_replicas)
    from absl import logging as absl_logging

    from pipeline.pipeline import create_pipeline

    absl_logging.set_verbosity(absl_logging.INFO)
    tune_in_process_beam()
    import_seconds = time.perf_counter() - started
    pipeline = create_pipeline(local_pipeline_inputs(config, inputs, rows), mlmd.config_connection(config))
    absl_logger = logging.getLogger("absl")
    if progress_handler is not None:
        absl_logger.addHandler(progress_handler)
    started = time.perf_counter()
    try:
        local_dag_runner(run_id).run(pipeline)
        error = None
    except Exception as caught:  # a component failed; the caller explains it
        log.exception("pipeline run failed")
        error = caught
    finally:
        if progress_handler is not None:
            absl_logger.removeHandler(progress_handler)
    return LocalRun(time.perf_counter() - started, import_seconds, error)
