"""What create_pipeline receives, decided from the configuration without importing TFX."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configs.settings import PipelineConfig
from data.spans import SPAN_PREFIX, span_folders
from pipeline.layout import KubeflowStateLayout, OutputLayout
from pipeline.run_facts import CODE_SHA256, GIT_COMMIT

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


def data_source(path: Path, spans: str | int = "all", window: int = 1,
                staging: Path | None = None) -> tuple[str, str]:
    """Splits a data path into ExampleGen's input_base and file pattern.

    A file is read alone; a folder of span-N/ folders as every span, or one span
    (the latest, or span N) with TFX's {SPAN} pattern, or a rolling window of
    spans; any other folder as every CSV in it.
    """
    path = path.resolve()
    if path.is_file():
        return str(path.parent), path.name
    if span_folders(path):
        if spans == "all":
            return str(path), f"{SPAN_PREFIX}*/*.csv"
        if window == 1:
            return str(path), f"{SPAN_PREFIX}{{SPAN}}/*.csv"
        if staging is None:
            raise ValueError("a window of spans needs a staging folder")
        return str(stage_window(selected_spans(path, spans, window), staging)), "*/*.csv"
    return str(path), "*.csv"


def selected_spans(path: Path, spans: str | int = "all", window: int = 1) -> list[Path]:
    """The span-N folders a run reads: every one, or the `window` spans ending at the chosen one."""
    folders = span_folders(path)
    if spans == "all":
        return folders
    if spans == "latest":
        end = len(folders)
    else:
        numbers = [int(f.name[len(SPAN_PREFIX):]) for f in folders]
        if spans not in numbers:
            raise FileNotFoundError(f"{path} has no folder {SPAN_PREFIX}{spans}")
        end = numbers.index(spans) + 1
    return folders[max(0, end - window):end]


def stage_window(folders: list[Path], staging: Path) -> Path:
    """Hard-links the CSV files of several spans into one folder for ExampleGen to read.

    CsvExampleGen reads one span or a glob, not a range of spans. The folder is
    named by the files' names, sizes and modification times, so an unchanged
    window reuses the same folder (and ExampleGen's cache), and a changed file
    gets a new one. Built under a temporary name and renamed, so a crash never
    leaves a half-linked window behind.
    """
    files = [(folder.name, csv) for folder in folders for csv in sorted(folder.glob("*.csv"))]
    digest = hashlib.sha256()
    for span, csv in files:
        stat = csv.stat()
        digest.update(f"{span}/{csv.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    first, last = folders[0].name[len(SPAN_PREFIX):], folders[-1].name[len(SPAN_PREFIX):]
    target = staging / f"{SPAN_PREFIX}{first}-to-{last}-{digest.hexdigest()[:12]}"
    if target.is_dir():
        return target
    partial = staging / f".{target.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for span, csv in files:
        (partial / span).mkdir(parents=True, exist_ok=True)
        try:
            os.link(csv, partial / span / csv.name)
        except OSError:  # another file system, or links not allowed
            shutil.copy2(csv, partial / span / csv.name)
    partial.replace(target)
    return target


def data_files(path: Path, spans: str | int = "all", window: int = 1) -> list[Path]:
    """The CSV files a run will read (for the pre-flight checks)."""
    path = path.resolve()
    if path.is_file():
        return [path]
    if span_folders(path):
        return sorted(f for folder in selected_spans(path, spans, window) for f in folder.glob("*.csv"))
    return sorted(path.glob("*.csv"))


def ignored_files(path: Path, spans: str | int = "all", window: int = 1) -> list[Path]:
    """Entries of the data folders a run reads that are not *.csv, so the user hears they were skipped."""
    path = path.resolve()
    if path.is_file():
        return []
    folders = selected_spans(path, spans, window) if span_folders(path) else [path]
    return sorted(entry for folder in folders for entry in folder.iterdir()
                  if entry.suffix != ".csv" and not entry.name.startswith(".")
                  and not (folder == path and entry.name.startswith(SPAN_PREFIX)))


def span_label(path: Path, spans: str | int = "all", window: int = 1) -> str:
    """Which spans a run reads, for the terminal and the run's metadata: "span-13..span-16"."""
    path = path.resolve()
    if path.is_file() or not span_folders(path):
        return "-"
    folders = selected_spans(path, spans, window)
    return folders[0].name if len(folders) == 1 else f"{folders[0].name}..{folders[-1].name}"


def user_code_version() -> dict[str, str]:
    """Content hash of the user code and, when available, the git commit."""
    digest = hashlib.sha256()
    for package in USER_CODE_PACKAGES:
        for source in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(source.read_bytes())
    return {CODE_SHA256: digest.hexdigest()[:16], GIT_COMMIT: _git_commit()}


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


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


def local_pipeline_inputs(config: PipelineConfig, rows: int | None = None) -> PipelineInputs:
    """PipelineInputs for a run on this machine, everything under paths.output.

    `rows`, the number of input rows when they were counted, decides the
    Evaluator's Beam arguments.
    """
    paths, layout = config.paths, OutputLayout.of(config)
    data_root, pattern = data_source(paths.data, config.spans, config.window, layout.windows_dir)
    transform_config, trainer_config = component_configs(config, str(layout.trainer_backups_dir.resolve()))
    return PipelineInputs(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(layout.pipeline_root.resolve()),
        data_root=data_root,
        data_pattern=pattern,
        serving_dir=str(layout.serving_dir.resolve()),
        transform_config=transform_config,
        trainer_config=trainer_config,
        tuner_config=tuner_config(config, trainer_config),
        evaluation=config.evaluation.model_dump(),
        fail_on=list(config.validation.fail_on),
        schema_file=(str(content_addressed_copy(paths.schema_file, layout.schemas_dir).resolve())
                     if paths.schema_file else None),
        compare_with_previous_statistics=config.validation.drift,
        span=config.spans if isinstance(config.spans, int) and "{SPAN}" in pattern else None,
        beam_pipeline_args=list(config.beam_args),
        example_gen_beam_args=list(config.component_beam_args.example_gen),
        evaluator_beam_args=config.component_beam_args.evaluator_args(rows),
        enable_cache=config.enable_cache,
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
