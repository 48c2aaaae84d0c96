"""What one local run reads, decided once from the configuration: RunInputs.

The pre-flight check, the input fingerprint, the span label on the terminal and
in MLMD, the ignored-files note and ExampleGen's input all come from the one
value `RunInputs.select(...)` returns, so they can never disagree about which
spans or files a run reads. No TensorFlow, no TFX.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from configs.settings import PipelineConfig
from data.spans import SPAN_PREFIX, span_folders
from pipeline.pipeline_inputs import (
    PipelineInputs,
    component_configs,
    content_addressed_copy,
    tuner_config,
)
from pipeline.shared.layout import OutputLayout


@dataclass(frozen=True)
class FileStamp:
    """A data file as TFX's ExampleGen fingerprints it: path, size and modification time."""

    path: Path
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        status = path.stat()
        return cls(path, status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class RunInputs:
    """The data a run reads: its source, the selected span folders, the files and what is skipped."""

    source: Path  # paths.data, resolved: a file, a folder of span-N/ folders, or a folder of CSV files
    spans: str | int  # the setting: "all", "latest" or a span number
    window: int
    span_folders: tuple[Path, ...]  # the selected span-N folders; () when the source has none
    files: tuple[FileStamp, ...]  # every CSV file the run reads, in order
    ignored: tuple[Path, ...]  # entries of those folders that are not *.csv

    @classmethod
    def select(cls, source: Path, spans: str | int = "all", window: int = 1) -> RunInputs:
        """Lists once what a run with these settings reads (FileNotFoundError for an unknown span)."""
        source = source.resolve()
        if source.is_file():
            return cls(source, spans, window, (), (FileStamp.of(source),), ())
        all_spans = span_folders(source)
        folders = tuple(_selected(source, all_spans, spans, window)) if all_spans else ()
        readable = folders or (source,)
        files = sorted(csv for folder in readable for csv in folder.glob("*.csv"))
        ignored = sorted(entry for folder in readable for entry in folder.iterdir()
                         if entry.suffix != ".csv" and not entry.name.startswith(".")
                         and not (folder == source and entry.name.startswith(SPAN_PREFIX)))
        return cls(source, spans, window, folders, tuple(FileStamp.of(f) for f in files), tuple(ignored))

    @classmethod
    def of(cls, config: PipelineConfig) -> RunInputs:
        return cls.select(config.paths.data, config.spans, config.window)

    @property
    def paths(self) -> list[Path]:
        return [stamp.path for stamp in self.files]

    @property
    def span_label(self) -> str:
        """Which spans the run reads, for the terminal and the run's metadata: "span-13..span-16"."""
        if not self.span_folders:
            return "-"
        first, last = self.span_folders[0], self.span_folders[-1]
        return first.name if first == last else f"{first.name}..{last.name}"

    @property
    def description(self) -> str:
        """The spans as the run's header line says them: the setting, or the folders it chose."""
        if self.span_label == "-" or self.spans == "all":
            return f"spans: {self.spans}"
        return f"spans: {self.span_label}"

    def example_gen_source(self, staging: Path) -> tuple[str, str]:
        """ExampleGen's input_base and file pattern for exactly these files.

        A file is read alone; span folders as every span, or one span (the
        latest, or span N) with TFX's {SPAN} pattern, or a rolling window of
        spans linked into one staging folder; any other folder as every CSV in it.
        """
        if self.source.is_file():
            return str(self.source.parent), self.source.name
        if not self.span_folders:
            return str(self.source), "*.csv"
        if self.spans == "all":
            return str(self.source), f"{SPAN_PREFIX}*/*.csv"
        if self.window == 1:
            return str(self.source), f"{SPAN_PREFIX}{{SPAN}}/*.csv"
        return str(self.stage_window(staging)), "*/*.csv"

    def stage_window(self, staging: Path) -> Path:
        """Hard-links the CSV files of several spans into one folder for ExampleGen to read.

        CsvExampleGen reads one span or a glob, not a range of spans. The folder
        is named by the files' names, sizes and modification times, so an
        unchanged window reuses the same folder (and ExampleGen's cache), and a
        changed file gets a new one. Built under a temporary name and renamed,
        so a crash never leaves a half-linked window behind.
        """
        digest = hashlib.sha256()
        for stamp in self.files:
            digest.update(f"{stamp.path.parent.name}/{stamp.path.name}:{stamp.size}:{stamp.mtime_ns}\n".encode())
        first = self.span_folders[0].name[len(SPAN_PREFIX):]
        last = self.span_folders[-1].name[len(SPAN_PREFIX):]
        target = staging / f"{SPAN_PREFIX}{first}-to-{last}-{digest.hexdigest()[:12]}"
        if target.is_dir():
            return target
        partial = staging / f".{target.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        for csv in self.paths:
            (partial / csv.parent.name).mkdir(parents=True, exist_ok=True)
            try:
                os.link(csv, partial / csv.parent.name / csv.name)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(csv, partial / csv.parent.name / csv.name)
        partial.replace(target)
        return target


def _selected(source: Path, folders: list[Path], spans: str | int, window: int) -> list[Path]:
    """Every span folder, or the `window` spans ending at the chosen one."""
    if spans == "all":
        return folders
    if spans == "latest":
        end = len(folders)
    else:
        numbers = [int(f.name[len(SPAN_PREFIX):]) for f in folders]
        if spans not in numbers:
            raise FileNotFoundError(f"{source} has no folder {SPAN_PREFIX}{spans}")
        end = numbers.index(spans) + 1
    return folders[max(0, end - window):end]


def local_pipeline_inputs(config: PipelineConfig, inputs: RunInputs,
                          rows: int | None = None) -> PipelineInputs:
    """PipelineInputs for a run on this machine, everything under paths.output.

    `inputs` is what the pre-flight check selected; `rows`, the number of input
    rows when they were counted, decides the Evaluator's Beam arguments.
    """
    layout = OutputLayout.of(config)
    data_root, pattern = inputs.example_gen_source(layout.windows_dir)
    transform_config, trainer_config = component_configs(config, str(layout.trainer_backups_dir.resolve()))
    schema_file = config.paths.schema_file
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
        schema_file=(str(content_addressed_copy(schema_file, layout.schemas_dir).resolve())
                     if schema_file else None),
        compare_with_previous_statistics=config.validation.drift,
        span=config.spans if isinstance(config.spans, int) and "{SPAN}" in pattern else None,
        beam_pipeline_args=list(config.beam_args),
        example_gen_beam_args=list(config.component_beam_args.example_gen),
        evaluator_beam_args=config.component_beam_args.evaluator_args(rows),
        enable_cache=config.enable_cache,
    )
