"""What every command group shares: exit codes, common arguments, and turning them into a config or store.

Every handler has the signature ``handler(args, console) -> exit code``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Column

from configs.settings import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C outside a run, as a shell reports it
# The config keys that --data and --output set, so that errors name the flag.
FLAG_SOURCES = {"paths.data": "--data", "paths.output": "--output"}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="YAML configuration (default: configs/local.yaml)")
    parser.add_argument("--data", type=Path, help="CSV file or folder; overrides paths.data")
    parser.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override one config value, e.g. --set training.epochs=3 (repeatable)")


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", nargs="?", type=float, const=float("inf"), default=0.0, metavar="SECONDS",
                        help="when another run holds the output folder or the metadata store, wait for it "
                             "(up to SECONDS; no value: as long as it takes) instead of exiting with code 3")


def add_store_arguments(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="configuration whose metadata store to read (default: configs/local.yaml)")
    parser.add_argument("--store", help="metadata store instead of the config's: SQLite path, "
                        "mysql://user@host:port/db, postgresql://user@host:port/db or grpc://host:port "
                        "(password from the TAXI_TFX_METADATA_PASSWORD environment variable)")
    parser.add_argument("--pipeline", help="which pipeline of the store to read (default: the store's only "
                        "one, else the configuration's pipeline_name)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def config_from_arguments(args: argparse.Namespace) -> PipelineConfig:
    """The config with --set applied, then --data and --output taken verbatim (never parsed as YAML)."""
    values = {key: value for key, value in (("paths.data", args.data), ("paths.output", args.output))
              if value is not None}
    return load_config(args.config, args.overrides, values=values, sources=FLAG_SOURCES)


@dataclass(frozen=True)
class OpenedStore:
    """What a read-only command reads: the store, the configuration, and the pipeline chosen once."""

    store: object
    config: PipelineConfig
    pipeline: str | None


def open_store_from_arguments(args: argparse.Namespace) -> OpenedStore:
    """--store, else the config's store (never created), and --pipeline, else the store's or the config's.

    When the store holds several pipelines, the one chosen is said on stderr,
    so that --json output stays clean.
    """
    from pipeline.metadata import store as mlmd
    from pipeline.metadata.pipelines import choose_pipeline

    config = load_config(args.config, check_paths=False)
    if args.store:
        store = mlmd.open_store(mlmd.connection_from_url(args.store, config.metadata_password()))
    else:
        store = mlmd.open_store(mlmd.config_connection(config, read_only=True))
    choice = choose_pipeline(store, getattr(args, "pipeline", None), config.pipeline_name)
    if choice.note:
        print(f"note: {choice.note}", file=sys.stderr)
    return OpenedStore(store, config, choice.name)


def require_kubeflow_section(config: PipelineConfig, config_file: Path) -> PipelineConfig:
    if config.kubeflow is None:
        raise ConfigError(f"{config_file} has no kubeflow: section (see configs/kubeflow.yaml)")
    return config


def refuse_folder(flag: str, path: Path | None, what: str) -> None:
    """An output file argument that names a folder: one line, before anything is written."""
    if path is not None and path.is_dir():
        raise ConfigError(f"{flag} {path}: a folder; give the name of the {what} to write")


def whole_column(header: str, values) -> Column:
    """A table column that is never cut or wrapped (run ids, versions): the other columns give way."""
    from rich.table import Column

    return Column(header, no_wrap=True, min_width=max([len(header), *(len(str(v)) for v in values)]))


def fixed(value: float | None, missing: str = "-") -> str:
    return missing if value is None else f"{value:.4f}"
