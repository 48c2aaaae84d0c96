"""What create_pipeline receives (PipelineInputs), and the parts of it both runners decide alike.

The local runner fills it in `pipeline.run.inputs`, the Kubeflow compiler in
`pipeline.kubeflow.compile`; neither imports TFX to do so.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.settings import PipelineConfig
from pipeline.metadata.run_facts import CODE_SHA256, GIT_COMMIT

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The code TFX calls by dotted path. Its hash is part of the Transform and
# Trainer properties, so that editing it invalidates the cache (with dotted
# paths TFX cannot see code changes by itself).
USER_CODE_PACKAGES = ("trainer",)


@dataclass(frozen=True)
class PipelineInputs:
    """Everything create_pipeline needs, decided by a runner."""

    pipeline_name: str
    pipeline_root: str
    data_root: str
    data_pattern: str
    serving_dir: str
    # custom_config of Transform and Trainer. Transform's holds only what changes
    # its output, so a new hyperparameter re-runs the Trainer but not Transform.
    transform_config: dict[str, Any]
    trainer_config: dict[str, Any]
    evaluation: dict[str, Any]
    fail_on: list[str]
    schema_file: str | None = None
    beam_pipeline_args: list[str] = field(default_factory=list)
    # Added after beam_pipeline_args for one component each.
    example_gen_beam_args: list[str] = field(default_factory=list)
    evaluator_beam_args: list[str] = field(default_factory=list)
    enable_cache: bool = True
    # Local runs find the baseline with a Resolver node; open-source Kubeflow has
    # no resolver executor, so its runner turns this off.
    resolve_baseline: bool = True
    # With a {SPAN} pattern: read exactly this span instead of the latest.
    span: int | None = None
    # Drift: the gate compares this run's statistics with the previous run's
    # (found by a Resolver node, so local runs only).
    compare_with_previous_statistics: bool = True
    # The Kubeflow variant's replacements for those two Resolver nodes: the
    # baseline is the newest model in serving_dir (a ProductionBaseline node),
    # and the previous statistics are named by this file, which the gate
    # rewrites each time it accepts data.
    baseline_from_serving_dir: bool = False
    statistics_reference_file: str | None = None
    # custom_config of the Tuner; None leaves the Tuner out of the DAG.
    tuner_config: dict[str, Any] | None = None


def user_code_version() -> dict[str, str]:
    """Content hash of the user code and, when available, the git commit."""
    digest = hashlib.sha256()
    for package in USER_CODE_PACKAGES:
        for source in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(source.read_bytes())
    return {CODE_SHA256: digest.hexdigest()[:16], GIT_COMMIT: _git_commit()}


def _git_commit() -> str:
    output = _git("rev-parse", "HEAD")
    return "unknown" if output is None else output.strip()


def git_tree_state() -> str:
    """"clean", "dirty (N files)" (uncommitted or untracked files), or "unknown" outside a git checkout."""
    output = _git("status", "--porcelain")
    if output is None:
        return "unknown"
    changed = [line for line in output.splitlines() if line.strip()]
    return f"dirty ({len(changed)} file{'s' if len(changed) != 1 else ''})" if changed else "clean"


def _git(*arguments: str) -> str | None:
    """git's output in the project folder, None when git or the checkout is missing."""
    try:
        result = subprocess.run(["git", "-C", str(PROJECT_ROOT), *arguments],
                                capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def content_addressed_copy(path: Path, folder: Path) -> Path:
    """Copies a file to folder/<content hash>/<name> and returns the copy.

    ImportSchemaGen's cache key holds the schema's path, not its content; a path
    that changes with the content makes an edited schema take effect on a rerun.
    """
    content = path.read_bytes()
    target = folder / hashlib.sha256(content).hexdigest()[:16] / path.name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(content)
        partial.replace(target)
    return target


def component_configs(config: PipelineConfig, backup_root: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """custom_config of Transform and of the Trainer (tuner_config has the Tuner's)."""
    transform_config = {
        "features": config.features.model_dump(),
        "label": config.label.model_dump(),
        # Only the content hash: a new commit that leaves the code alone
        # must not invalidate the cache.
        CODE_SHA256: user_code_version()[CODE_SHA256],
    }
    trainer_config = {
        **transform_config,
        "training": config.training.model_dump(),
        "backup_root": backup_root,
    }
    return transform_config, trainer_config


def tuner_config(config: PipelineConfig, trainer_config: dict[str, Any]) -> dict[str, Any] | None:
    """custom_config of the Tuner (the Trainer's plus the search), or None when tuning is off.

    Its content is the Tuner's cache key: the search space, the data and the
    code; the Trainer's own config leaves it out, so enabling tuning re-runs
    the Trainer only through its new hyperparameters input.
    """
    if not config.tuning.enabled:
        return None
    return {**trainer_config, "tuning": config.tuning.model_dump()}
