"""Facts a local run records on its own pipeline_run context in ML Metadata.

TFX records what each component did, but not which code and configuration
started the run, which spans it read, or why it stopped (a failed execution
carries no error). The run service writes these once the pipeline has
returned; the up-to-date check, `why`, `lineage diff` and the report read them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.metadata import store as mlmd
from pipeline.shared.redaction import redact

CODE_SHA256 = "code_sha256"
GIT_COMMIT = "git_commit"
CONFIG_FILE = "config_file"
DATA_SPANS = "data_spans"
# What the up-to-date check compares: everything the run read, and the newest
# served version when it ended.
INPUT_FINGERPRINT = "input_fingerprint"
SERVING_NEWEST = "serving_newest"
# Why the run stopped (the failing component's error), absent when it finished.
STOP_REASON = "stop_reason"
# How a stop reason starts when a signal (SIGTERM, Ctrl-C) stopped the run.
INTERRUPTED_PREFIX = "stopped by signal "
# The facts that describe a run to a person (diff and the report show them).
DESCRIPTIVE = (CONFIG_FILE, GIT_COMMIT, CODE_SHA256, DATA_SPANS)
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
