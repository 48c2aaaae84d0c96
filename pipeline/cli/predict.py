"""`predict`: score a CSV file with a pushed model (the work is pipeline.serving.predict's)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from rich.console import Console

from configs.settings import DEFAULT_CONFIG, ConfigError, load_config, secret_values
from pipeline.cli.common import EXIT_OK, refuse_folder

LARGE_FILE_ROWS = 50_000  # a progress bar from this many rows on


def register(commands) -> None:
    predict = commands.add_parser("predict", help="score the rows of a CSV file with a pushed model")
    predict.add_argument("--data", type=Path, required=True, help="CSV file with the raw columns (no label)")
    predict.add_argument("--output", type=Path, required=True,
                         help="CSV file to write: row, the config's prediction.key_columns, probability")
    predict.add_argument("--model", default="latest",
                         help="latest (default: the newest complete version in the serving folder), "
                              "a version number there, or a version's path")
    predict.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                         help="the configuration with the serving folder and schema "
                              "(default: configs/local.yaml)")
    predict.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override one config value (repeatable)")
    predict.set_defaults(handler=command_predict)


def command_predict(args: argparse.Namespace, console: Console) -> int:
    from data.checks import check_csv_files, load_schema, numeric_columns
    from pipeline.run.console import importing_in_background, output_to_log, quiet_library_noise
    from pipeline.serving.predict import ServingInputs, resolve_model
    from pipeline.shared.gc_pace import collect_garbage_less_often
    from pipeline.shared.layout import OutputLayout

    config = load_config(args.config, args.overrides, check_paths=False)
    layout = OutputLayout.of(config)
    if not args.data.is_file():
        raise ConfigError(f"--data {args.data}: " + ("a folder; give a CSV file" if args.data.is_dir()
                                                     else "no such file"))
    refuse_folder("--output", args.output, "CSV file")
    model = resolve_model(args.model, layout.serving_dir)
    if config.paths.schema_file is None:
        raise ConfigError("predict needs paths.schema_file: the curated schema types the input columns")
    if args.output.resolve() == args.data.resolve():
        raise ConfigError("--output would overwrite --data")
    schema = load_schema(config.paths.schema_file)
    inputs = ServingInputs.from_schema(schema)
    key_columns = list(config.prediction.key_columns)
    required = sorted({*inputs.required, *config.features.columns(), *key_columns})
    collect_garbage_less_often()
    quiet_library_noise()
    # TensorFlow loads while the file is checked; its start-up messages go to the log.
    with output_to_log(layout.log_file("predict", datetime.now()), secret_values(config)) as terminal, \
            importing_in_background("tensorflow"):
        [report] = check_csv_files([args.data], required, numeric_columns(schema), non_empty=inputs.required,
                                   keep_tables=True)
        terminal.print(f"scoring {report.rows} rows of {args.data} with {model}", highlight=False)
        result = _score(args, config, model, inputs, key_columns, report, terminal)
    console.print(f"[green]✔[/] {result.output}: {result.rows} rows in {result.seconds:.1f} s "
                  f"({result.rows_per_second:,.0f} rows/s)", highlight=False)
    return EXIT_OK


def _score(args, config, model, inputs, key_columns, report, terminal):
    """Scores the checked rows, with a progress bar on a terminal for large files."""
    from rich.progress import Progress

    from pipeline.serving.predict import score_csv

    show = terminal.is_terminal and report.rows >= LARGE_FILE_ROWS
    with Progress(console=terminal, transient=True, disable=not show) as progress:
        task = progress.add_task("scoring", total=report.rows)
        return score_csv(model, args.data, args.output, inputs, key_columns, config.prediction.batch_size,
                         on_batch=lambda done: progress.advance(task, done), table=report.table)
