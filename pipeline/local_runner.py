"""Runs the pipeline on this machine: LocalDagRunner, ML Metadata, Beam DirectRunner.

This runner owns the physical layout: the pipeline root, the metadata store and
the serving directory all live under ``paths.output`` of the configuration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from configs.settings import PipelineConfig
from pipeline import store as mlmd
from pipeline.inputs import local_pipeline_inputs

log = logging.getLogger(__name__)


@dataclass
class LocalRun:
    pipeline_seconds: float
    import_seconds: float
    error: BaseException | None = None


def metadata_connection(config: PipelineConfig):
    """The MLMD connection the configuration asks for: SQLite file, MySQL or PostgreSQL."""
    meta = config.metadata
    if meta.kind == "sqlite":
        config.paths.output.mkdir(parents=True, exist_ok=True)
        return mlmd.sqlite_connection(config.paths.metadata_path.resolve())
    user = f"{meta.user}@" if meta.user else ""
    port = f":{meta.port}" if meta.port else ""
    url = f"{meta.kind}://{user}{meta.host}{port}/{meta.database}"
    return mlmd.connection_from_url(url, password=config.metadata_password())


def run_local(config: PipelineConfig, progress_handler: logging.Handler | None = None) -> LocalRun:
    """Builds and runs the pipeline; returns timings and the error, if a component failed.

    TensorFlow and TFX are imported here, not at module import, so that the CLI
    validates configuration before paying for them.
    """
    started = time.perf_counter()
    # Logical CPU devices for MirroredStrategy must exist before TF initialises.
    from trainer.distribution import configure_devices

    configure_devices(config.training.cpu_replicas)
    from absl import logging as absl_logging
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.pipeline import create_pipeline

    absl_logging.set_verbosity(absl_logging.INFO)
    import_seconds = time.perf_counter() - started
    pipeline = create_pipeline(local_pipeline_inputs(config), metadata_connection(config))
    absl_logger = logging.getLogger("absl")
    if progress_handler is not None:
        absl_logger.addHandler(progress_handler)
    started = time.perf_counter()
    try:
        LocalDagRunner().run(pipeline)
        error = None
    except Exception as caught:  # a component failed; the caller explains it
        log.exception("pipeline run failed")
        error = caught
    finally:
        if progress_handler is not None:
            absl_logger.removeHandler(progress_handler)
    return LocalRun(time.perf_counter() - started, import_seconds, error)
