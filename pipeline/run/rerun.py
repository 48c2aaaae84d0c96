"""`rerun RUN`: what differs now from what a run recorded, and the configuration to run it with again.

Every run records its resolved configuration, each file it read with its
content hash, and the state of the code (the run service writes them,
pipeline/metadata/run_facts names them). Planning a rerun compares those with
now: the code (commit, uncommitted changes, the trainer code's hash), each
configuration key (the recorded configuration against its file as that file
loads today), and each input file by content. Running it is the run
service's, with the recorded configuration. No TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from configs.record import config_from_record, flat_keys, recorded_values
from configs.settings import ConfigError, PipelineConfig, load_config
from pipeline.metadata import run_facts
from pipeline.metadata import store as mlmd
from pipeline.pipeline_inputs import git_tree_state, user_code_version
from pipeline.run.inputs import RunInputs

HASH_CHUNK = 1 << 20
ABSENT = "-"


def content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        while chunk := reader.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def input_files(inputs: RunInputs, schema_file: Path | None) -> dict[str, dict]:
    """What a run records of the files it reads: the CSV files and the schema, with their content hash."""
    stamps = [(stamp.path, stamp.size, stamp.mtime_ns) for stamp in inputs.files]
    if schema_file is not None:
        status = schema_file.resolve().stat()
        stamps.append((schema_file.resolve(), status.st_size, status.st_mtime_ns))
    return {str(path): {"size": size, "mtime_ns": mtime_ns, "sha256": content_sha256(path)}
            for path, size, mtime_ns in stamps}


@dataclass(frozen=True)
class Difference:
    """One thing that is not as the run recorded it: in the code, a configuration key or an input file."""

    section: str  # "code", "config" or "files"
    key: str
    recorded: object
    now: object


@dataclass(frozen=True)
class RerunPlan:
    run_id: str
    config: PipelineConfig  # the recorded configuration, validated with today's code
    config_file: Path  # the file it was loaded from, recorded again on the rerun
    differences: list[Difference]

    @property
    def data_changed(self) -> bool:
        return any(difference.section == "files" for difference in self.differences)


def plan_rerun(run) -> RerunPlan:
    """The recorded configuration and what differs now; ConfigError for a run that recorded none."""
    record = mlmd.custom_value(run, run_facts.RESOLVED_CONFIG)
    if not record:
        raise ConfigError(f"run {run.name} recorded no configuration (it ran before runs recorded one); "
                          "run it with `run --config FILE` instead")
    config = config_from_record(record, f"run {run.name}")
    config_file = Path(str(mlmd.custom_value(run, run_facts.CONFIG_FILE) or ""))
    try:
        current = load_config(config_file, check_paths=False)
    except ConfigError as error:
        differences = [Difference("config", "(file)", str(config_file), f"does not load now: {error}")]
    else:
        differences = _config_differences(run, current)
        config = config.model_copy(update={"notify": current.notify})  # notified as the file says today
    differences = [*_code_differences(run), *differences, *_file_differences(run, config)]
    return RerunPlan(run.name, config, config_file, differences)


def _code_differences(run) -> list[Difference]:
    now = {**user_code_version(), run_facts.GIT_TREE: git_tree_state()}
    keys = (run_facts.GIT_COMMIT, run_facts.GIT_TREE, run_facts.CODE_SHA256)
    recorded = {key: str(mlmd.custom_value(run, key) or ABSENT) for key in keys}
    return [Difference("code", key, recorded[key], now[key]) for key in keys if recorded[key] != now[key]]


def _config_differences(run, current: PipelineConfig) -> list[Difference]:
    """Each key where the recorded configuration and its file (as it loads from here, now) differ."""
    recorded = flat_keys(run_facts.recorded_config(run) or {})
    now = flat_keys(recorded_values(current))
    return [Difference("config", key, recorded.get(key, ABSENT), now.get(key, ABSENT))
            for key in sorted(set(recorded) | set(now)) if recorded.get(key, ABSENT) != now.get(key, ABSENT)]


def _file_differences(run, config: PipelineConfig) -> list[Difference]:
    """Files whose content differs from what the run read, and files added or gone since."""
    recorded = run_facts.recorded_input_files(run) or {}
    now = _files_now(config)
    differences = []
    for path in sorted(set(recorded) | set(now)):
        before, after = recorded.get(path), now.get(path)
        if before and after and (before["size"], before["mtime_ns"]) == (after["size"], after["mtime_ns"]):
            continue  # unchanged by the same test ExampleGen applies; not read again
        if after:
            after = {**after, "sha256": content_sha256(Path(path))}
        if before and after and before["sha256"] == after["sha256"]:
            continue  # touched, same content
        differences.append(Difference("files", path, _file_text(before), _file_text(after)))
    return differences


def _files_now(config: PipelineConfig) -> dict[str, dict]:
    """The files the recorded configuration selects today, by size and time (hashed only when needed)."""
    if not config.paths.data.exists():
        return {}
    try:
        inputs = RunInputs.of(config)
    except FileNotFoundError:  # the recorded span is gone
        return {}
    files = {str(stamp.path): {"size": stamp.size, "mtime_ns": stamp.mtime_ns} for stamp in inputs.files}
    schema = config.paths.schema_file
    if schema is not None and schema.is_file():
        status = schema.stat()
        files[str(schema)] = {"size": status.st_size, "mtime_ns": status.st_mtime_ns}
    return files


def _file_text(file: dict | None) -> str:
    return ABSENT if file is None else f"{file['size']} bytes, sha256 {file['sha256'][:12]}"
