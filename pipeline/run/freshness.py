"""Is a local run up to date? Decided from file metadata and ML Metadata, without TensorFlow.

A rerun with the same data files, configuration, schema, code and libraries
would replay the last run: TFX would reuse every cached component, and only the
Evaluator would run again, to compare the model with itself. `run` therefore
stops early when the newest run in the store finished with the same input
fingerprint and the serving directory still ends where that run left it.
`run --force` runs the pipeline anyway.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata as package_metadata
from pathlib import Path

from components.versioned_pusher.versions import complete_local_versions, local_pin
from configs.settings import PipelineConfig
from pipeline.metadata import store as mlmd
from pipeline.metadata.run_facts import INPUT_FINGERPRINT as FINGERPRINT_KEY
from pipeline.metadata.run_facts import SERVING_NEWEST as SERVING_KEY
from pipeline.metadata.run_facts import STOP_REASON as STOP_KEY
from pipeline.pipeline_inputs import PROJECT_ROOT
from pipeline.run.inputs import RunInputs
from pipeline.shared.layout import OutputLayout

# Every package of this project that a run executes, and the libraries whose
# versions change what the components compute.
PROJECT_PACKAGES = ("components", "configs", "data", "pipeline", "trainer")
LIBRARIES = ("tfx", "tensorflow", "tensorflow-transform", "tensorflow-model-analysis",
             "tensorflow-data-validation", "tfx-bsl", "apache-beam", "ml-metadata", "keras")
FINISHED_STATES = {"COMPLETE", "CACHED"}


def input_fingerprint(config: PipelineConfig, inputs: RunInputs) -> str:
    """A hash of everything a local run's result depends on, except ML Metadata's own state.

    Data files count by path, size and modification time (as TFX's ExampleGen
    fingerprints them), the schema and the code by content.
    """
    digest = hashlib.sha256()

    def add(label: str, value: object) -> None:
        digest.update(f"{label}={value}\n".encode())

    add("config", json.dumps(config.model_dump(mode="json"), sort_keys=True))
    for stamp in inputs.files:
        add("data", f"{stamp.path}:{stamp.size}:{stamp.mtime_ns}")
    if config.paths.schema_file:
        add("schema", hashlib.sha256(config.paths.schema_file.read_bytes()).hexdigest())
    add("code", project_code_hash())
    for library in LIBRARIES:
        add("library", f"{library}=={_version(library)}")
    add("python", platform.python_version())
    return digest.hexdigest()[:32]


def project_code_hash() -> str:
    digest = hashlib.sha256()
    for package in PROJECT_PACKAGES:
        for source in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _version(library: str) -> str:
    try:
        return package_metadata.version(library)
    except package_metadata.PackageNotFoundError:
        return "absent"


def serving_state(serving_dir: Path) -> str:
    """The newest complete version in the serving directory ("-" when none), and its pin if any.

    A pin added or lifted since the last run changes what a run would do (push
    or not), so it counts as a change of the serving directory.
    """
    versions = complete_local_versions(serving_dir)
    try:
        pin = local_pin(serving_dir)
    except (OSError, ValueError, KeyError, TypeError):  # unreadable: the pusher will say so
        pin = None
    return (str(versions[-1]) if versions else "-") + (f" pinned by action {pin.action_id}" if pin else "")


def freshness_facts(fingerprint: str, serving_dir: Path) -> dict[str, str]:
    """What the up-to-date check needs to find on a run's context afterwards."""
    return {FINGERPRINT_KEY: fingerprint, SERVING_KEY: serving_state(serving_dir)}


def up_to_date_run(store, config: PipelineConfig, fingerprint: str):
    """The newest run when a rerun would only repeat it; None when the pipeline has to run.

    That run must have the same fingerprint, must have finished (no failed or
    unfinished component, no stop reason), and nothing may have been pushed
    or removed in the serving directory since it ended.
    """
    runs = mlmd.pipeline_runs(store, config.pipeline_name)
    if not runs:
        return None
    run = runs[0]
    facts = run.custom_properties
    if FINGERPRINT_KEY not in facts or facts[FINGERPRINT_KEY].string_value != fingerprint:
        return None
    if STOP_KEY in facts:
        return None
    if SERVING_KEY not in facts or \
            facts[SERVING_KEY].string_value != serving_state(OutputLayout.of(config).serving_dir):
        return None
    executions = mlmd.component_executions(store, run)
    if not executions or any(item.state not in FINISHED_STATES for item in executions):
        return None
    return run
