"""Compiles the pipeline for open-source Kubeflow Pipelines 2.x.

The same create_pipeline(...) as the local runner, through TFX's
KubeflowV2DagRunner, written as a pipeline-spec YAML of schema 2.1.0 (the only
schema a KFP 2.x API server accepts, and a format its client uploads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from configs.settings import PipelineConfig
from data.spans import SPAN_PREFIX
from pipeline.pipeline_inputs import PipelineInputs, component_configs, tuner_config
from pipeline.shared.layout import KubeflowStateLayout

SCHEMA_VERSION = "2.1.0"
# The only field that depends on the compiling environment (the TFX version);
# two compiles of the same code and config are otherwise byte for byte equal.
VOLATILE_FIELDS = ("sdkVersion",)
# These tasks read state that is not among their inputs (the data folder's
# newest span, the serving directory, the gate's reference file, the pin): a
# cached result could be stale. CsvExampleGen resolves the span in its executor,
# because open-source KFP runs no TFX driver (the spec's preCacheCheck hook),
# so its cache key would not change when a new span arrives.
UNCACHED_TASKS = ("CsvExampleGen", "ProductionBaseline", "ValidationGate", "Pusher")
# KFP's rule for a pipeline name in the spec (pipelineInfo.name).
KFP_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


@dataclass(frozen=True)
class CompiledPipeline:
    path: Path
    name: str
    schema_version: str
    image: str
    tasks: dict[str, list[str]]  # task -> the tasks it waits for


def compile_pipeline(config: PipelineConfig, output: Path) -> CompiledPipeline:
    """Writes the pipeline spec YAML to output (atomically) and describes it."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    from pipeline.pipeline import create_pipeline

    inputs = kubeflow_pipeline_inputs(config)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial.yaml")
    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image=config.kubeflow.image, use_pipeline_spec_2_1=True),
        output_dir=str(partial.parent),
        output_filename=partial.name,
    )
    runner.run(create_pipeline(inputs))
    finish_spec(partial, config.kubeflow.pipeline_root)
    partial.replace(output)
    return describe_spec(output)


def finish_spec(path: Path, pipeline_root: str) -> None:
    """What TFX's compile leaves out: the default pipeline root, and no cache for stateful tasks."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["defaultPipelineRoot"] = pipeline_root
    for name in UNCACHED_TASKS:
        task = spec["root"]["dag"]["tasks"].get(name)
        if task is not None:
            task["cachingOptions"] = {"enableCache": False}
    path.write_text(yaml.safe_dump(spec, sort_keys=True), encoding="utf-8")


def describe_spec(path: Path) -> CompiledPipeline:
    """Name, schema, image and task graph of a compiled spec (no TFX import)."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    executors = spec["deploymentSpec"]["executors"]
    images = {executor["container"]["image"] for executor in executors.values() if "container" in executor}
    tasks = {name: sorted(task.get("dependentTasks", []))
             for name, task in spec["root"]["dag"]["tasks"].items()}
    return CompiledPipeline(
        path=path,
        name=spec["pipelineInfo"]["name"],
        schema_version=spec["schemaVersion"],
        image=", ".join(sorted(images)),
        tasks=tasks,
    )


def kubeflow_pipeline_inputs(config: PipelineConfig) -> PipelineInputs:
    """PipelineInputs for open-source Kubeflow: remote locations, no Resolver nodes.

    The baseline comes from the serving directory (ProductionBaseline) and the
    drift reference from a file in kubeflow.state_dir, written by the gate.
    """
    kubeflow = config.kubeflow
    if kubeflow is None:
        raise ValueError("the configuration has no kubeflow: section (see configs/kubeflow.yaml)")
    if config.window > 1:
        raise ValueError("window > 1 needs the local runner (it links span files on disk); "
                         "on Kubeflow use window: 1")
    state = KubeflowStateLayout(kubeflow.state_dir)
    transform_config, trainer_config = component_configs(config, state.trainer_backups)
    if config.training.workers > 1:
        # Read by trainer.workers.train_on_workers inside the Trainer's pod.
        trainer_config["launcher"] = {"kind": "tfjob", "image": kubeflow.image,
                                      "namespace": kubeflow.tfjob_namespace,
                                      "kubernetes_api": kubeflow.kubernetes_api,
                                      "gpus_per_worker": kubeflow.tfjob_gpus_per_worker}
    pattern = f"{SPAN_PREFIX}*/*.csv" if config.spans == "all" else f"{SPAN_PREFIX}{{SPAN}}/*.csv"
    return PipelineInputs(
        pipeline_name=config.pipeline_name,
        pipeline_root=kubeflow.pipeline_root,
        data_root=kubeflow.data,
        data_pattern=pattern,
        serving_dir=kubeflow.serving_dir,
        transform_config=transform_config,
        trainer_config=trainer_config,
        tuner_config=tuner_config(config, trainer_config),
        evaluation=config.evaluation.model_dump(),
        fail_on=list(config.validation.fail_on),
        schema_file=kubeflow.schema_file,
        resolve_baseline=False,
        baseline_from_serving_dir=True,
        compare_with_previous_statistics=False,
        statistics_reference_file=state.accepted_statistics_file if config.validation.drift else None,
        span=config.spans if isinstance(config.spans, int) else None,
        beam_pipeline_args=list(kubeflow.beam_args),
        enable_cache=config.enable_cache,
    )
