"""Facts a local run records on its own pipeline_run context in ML Metadata.

TFX records what each component did, but not which code and configuration
started the run, which spans it read, or why it stopped (a failed execution
carries no error). The run service writes these once the pipeline has
returned; the up-to-date check, `why`, `lineage diff` and the report read them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pipeline.metadata import store as mlmd
from pipeline.shared.redaction import redact

CODE_SHA256 = "code_sha256"
GIT_COMMIT = "git_commit"
CONFIG_FILE = "config_file"
DATA_SPANS = "data_spans"
# Who started the run (the OS user), and whether the git tree had uncommitted changes.
RUN_BY = "run_by"
GIT_TREE = "git_tree"
# What `rerun` runs again with: the validated configuration as JSON, paths absolute
# (configs/record.py), and every file the run read: [{"path", "size", "mtime_ns", "sha256"}].
RESOLVED_CONFIG = "resolved_config"
INPUT_FILES = "input_files"
# On a run that `rerun` started: the run it repeats, and why it was repeated.
RERUN_OF = "rerun_of"
RERUN_REASON = "rerun_reason"
# What the up-to-date check compares: everything the run read, and the newest
# served version when it ended.
INPUT_FINGERPRINT = "input_fingerprint"
SERVING_NEWEST = "serving_newest"
# Why the run stopped (the failing component's error), absent when it finished.
STOP_REASON = "stop_reason"
# How a stop reason starts when a signal (SIGTERM, Ctrl-C) stopped the run.
INTERRUPTED_PREFIX = "stopped by signal "
# The facts that describe a run to a person (diff and the report show them).
DESCRIPTIVE = (CONFIG_FILE, GIT_COMMIT, GIT_TREE, CODE_SHA256, DATA_SPANS, RUN_BY, RERUN_OF, RERUN_REASON)
STOP_REASON_LIMIT = 4000


def record_run_facts(store, run_id: str, facts: dict[str, str], error: BaseException | None,
                     secrets: Sequence[str] = ()) -> None:
    """Adds the facts (and the stop reason, if the run failed, secrets masked) to the run named run_id."""
    run = mlmd.run_context(store, run_id)
    if run is None:  # the pipeline failed before TFX registered the run
        return
    values = dict(facts)
    if error is not None:
        values[STOP_REASON] = redact(str(error), secrets)[:STOP_REASON_LIMIT]
    mlmd.annotate_run(store, run, values)


def stop_reason(run) -> str | None:
    return mlmd.custom_value(run, STOP_REASON)


def described_facts(run) -> dict[str, str]:
    """The descriptive facts a run recorded, in a fixed order."""
    return {key: str(value) for key in DESCRIPTIVE if (value := mlmd.custom_value(run, key))}


def rerun_text(run) -> str | None:
    """"rerun of RUN by USER: REASON" for a run that `rerun` started, else None."""
    origin = mlmd.custom_value(run, RERUN_OF)
    if not origin:
        return None
    reason = mlmd.custom_value(run, RERUN_REASON)
    return f"rerun of {origin} by {mlmd.custom_value(run, RUN_BY) or '?'}" + (f": {reason}" if reason else "")


def rerun_facts(run) -> dict[str, str | None]:
    """The rerun's origin and reason, for --json (None on a run that `rerun` did not start)."""
    return {RERUN_OF: mlmd.custom_value(run, RERUN_OF), RERUN_REASON: mlmd.custom_value(run, RERUN_REASON)}


def recorded_config(run) -> dict | None:
    """The configuration the run recorded (as plain values), None for a run from before it was recorded."""
    record = mlmd.custom_value(run, RESOLVED_CONFIG)
    return json.loads(record) if record else None


FILE_FIELDS = ("size", "mtime_ns", "sha256")


def input_files_record(files: dict[str, dict]) -> str:
    """The INPUT_FILES value: {path: {"size", "mtime_ns", "sha256"}} as a JSON list in path order."""
    return json.dumps([{"path": path, **{key: files[path][key] for key in FILE_FIELDS}}
                       for path in sorted(files)], separators=(",", ":"))


def recorded_input_files(run) -> dict[str, dict] | None:
    """The files the run read, by path: {"size", "mtime_ns", "sha256"}; None when not recorded."""
    record = mlmd.custom_value(run, INPUT_FILES)
    if not record:
        return None
    return {item["path"]: {key: item[key] for key in FILE_FIELDS} for item in json.loads(record)}
