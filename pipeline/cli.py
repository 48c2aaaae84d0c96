"""Command line: ``python -m pipeline <command>``.

Commands that do not train (help, config checks, lineage) never import
TensorFlow; ``run`` imports it only after the configuration has been validated.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console

from configs.settings import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="TFX pipeline on the Chicago taxi data: run locally, inspect lineage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the whole pipeline locally")
    _add_config_arguments(run)
    run.set_defaults(handler=command_run)

    data = commands.add_parser("data", help="materialise the default taxi CSV under data/")
    data.add_argument("--destination", type=Path, default=Path("data/taxi"))
    data.set_defaults(handler=command_data)

    check = commands.add_parser("check-config", help="validate a configuration and print it")
    _add_config_arguments(check)
    check.set_defaults(handler=command_check_config)
    return parser


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="YAML configuration (default: configs/local.yaml)")
    parser.add_argument("--data", type=Path, help="CSV file or folder; overrides paths.data")
    parser.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override one config value, e.g. --set training.epochs=3 (repeatable)")


def config_from_arguments(args: argparse.Namespace) -> PipelineConfig:
    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"paths.data={args.data}")
    if args.output is not None:
        overrides.append(f"paths.output={args.output}")
    return load_config(args.config, overrides)


def command_check_config(args: argparse.Namespace, console: Console) -> int:
    import yaml

    config = config_from_arguments(args)
    console.print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), highlight=False)
    console.print(f"[green]✔[/] {args.config} is valid")
    return EXIT_OK


def command_data(args: argparse.Namespace, console: Console) -> int:
    from data.prepare import materialise_default_data

    target = materialise_default_data(args.destination)
    console.print(f"[green]✔[/] default taxi data at {target}")
    return EXIT_OK


def command_run(args: argparse.Namespace, console: Console) -> int:
    config = config_from_arguments(args)
    from pipeline.console import ComponentProgress, output_to_log, quiet_library_noise
    from pipeline.local_runner import run_local

    log_file = config.paths.log_dir / f"run-{datetime.now():%Y%m%d-%H%M%S}.log"
    console.print(f"[bold]{config.pipeline_name}[/] · local run · {args.config}", highlight=False)
    console.print(f"  data    {config.paths.data}\n  output  {config.paths.output}\n"
                  f"  log     {log_file}", highlight=False)
    quiet_library_noise()
    started = time.perf_counter()
    with output_to_log(log_file) as terminal:
        terminal.print("  loading TensorFlow and TFX…", highlight=False)
        progress = ComponentProgress(terminal)
        result = run_local(config, progress)
        failed = progress.fail_current() if result.error else None
    from pipeline.summary import print_run_summary

    print_run_summary(console, config, time.perf_counter() - started, result, failed, log_file)
    return EXIT_FAILED if result.error else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        return args.handler(args, console)
    except ConfigError as error:
        console.print(f"[red]configuration error[/]: {error}", highlight=False)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
