"""`run`, `simulate`, `data`, `check-config` and `schema infer`: commands that read data or run the pipeline.

The work is the run service's (pipeline.run.service); these handlers print.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console

from configs.settings import ConfigError, secret_values
from pipeline.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_config_arguments,
    add_wait_argument,
    config_from_arguments,
)


def register(commands) -> None:
    run = commands.add_parser("run", help="run the whole pipeline locally")
    add_config_arguments(run)
    run.add_argument("--force", action="store_true",
                     help="run even when the last run read the same data, config, schema and code")
    add_wait_argument(run)
    run.set_defaults(handler=command_run)

    data = commands.add_parser("data", help="write the default taxi CSV as quarterly spans under data/")
    data.add_argument("--destination", type=Path, default=Path("data/taxi"),
                      help="folder to write the span-N/ folders to (default: data/taxi)")
    data.set_defaults(handler=command_data)

    simulate = commands.add_parser("simulate", help="one run per span, in order, as a schedule would")
    add_config_arguments(simulate)
    add_wait_argument(simulate)
    simulate.set_defaults(handler=command_simulate)

    schema = commands.add_parser("schema", help="compare what the data implies with the curated schema")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True, metavar="COMMAND")
    infer = schema_commands.add_parser("infer", help="infer a schema from data and list the differences")
    add_config_arguments(infer)
    infer.add_argument("--write", type=Path, help="also write the inferred schema here (pbtxt)")
    infer.set_defaults(handler=command_schema_infer)

    drift = schema_commands.add_parser(
        "drift", help="how far each feature moved between consecutive spans, against the drift thresholds")
    add_config_arguments(drift)
    drift.set_defaults(handler=command_schema_drift)

    check = commands.add_parser("check-config", help="validate a configuration and print it")
    add_config_arguments(check)
    check.set_defaults(handler=command_check_config)


def command_run(args: argparse.Namespace, console: Console) -> int:
    from pipeline.run.service import RunService

    config = config_from_arguments(args)
    service = RunService(config, args.config)
    preflight = service.preflight()
    console.print(f"[bold]{config.pipeline_name}[/] · local run · {args.config}", highlight=False)
    console.print(f"  data    {config.paths.data} ({preflight.rows} rows, {preflight.inputs.description})",
                  highlight=False)
    if preflight.inputs.ignored:
        console.print(f"  ignored (not .csv): {', '.join(str(path) for path in preflight.inputs.ignored)}",
                      highlight=False, markup=False)
    console.print(f"  output  {config.paths.output}", highlight=False)
    with service.exclusive("run", args.wait, lambda message: console.print("  " + message, markup=False)):
        if not args.force:
            up_to_date = service.up_to_date(preflight)
            if up_to_date is not None:
                _print_up_to_date(console, up_to_date)
                return EXIT_OK
        log_file = service.new_log_file("run")
        console.print(f"  log     {log_file}", highlight=False)
        result = service.execute(preflight, log_file)
    from pipeline.report.summary import print_run_summary

    print_run_summary(console, result)
    return exit_code(result.error)


def exit_code(error: BaseException | None) -> int:
    """0, 128 + the signal number for a run stopped by a signal (as a shell expects), else 1."""
    from pipeline.run.interrupts import RunInterrupted

    if error is None:
        return EXIT_OK
    return error.exit_code if isinstance(error, RunInterrupted) else EXIT_FAILED


def _print_up_to_date(console: Console, up_to_date) -> None:
    from pipeline.report.summary import print_outcome

    console.print(f"\n[green]Up to date[/]: run {up_to_date.outcome.run_id} read the same data files, "
                  "configuration, schema, code and libraries, and finished. Nothing ran.", highlight=False)
    print_outcome(console, up_to_date.outcome)
    for label, path in up_to_date.files.items():
        console.print(f"  {label:<11} {path}", highlight=False, markup=False)
    console.print("`run --force` runs the pipeline anyway (TFX then reuses its cached components).",
                  highlight=False, markup=False)


def command_simulate(args: argparse.Namespace, console: Console) -> int:
    from pipeline.run import simulate
    from pipeline.run.service import RunService

    config = config_from_arguments(args)
    spans = simulate.span_numbers(config)
    playback = RunService(config, args.config)
    log_file = playback.new_log_file("simulate")
    console.print(f"playing back {len(spans)} spans of {config.paths.data} into {config.paths.output} "
                  f"(log: {log_file})", highlight=False)
    started = time.perf_counter()
    with playback.exclusive("simulate", args.wait, lambda message: console.print(message, markup=False)):
        console.print(simulate.HEADER, highlight=False)
        for span in spans:
            service = RunService(config.model_copy(update={"spans": span}), args.config)
            preflight = service.preflight()
            result = service.execute(preflight, log_file, show_progress=False)
            row = simulate.outcome(span, preflight.rows, result.run_id, result.outcome, result.error)
            console.print(row.line(), highlight=False, markup=False)
            if exit_code(result.error) > EXIT_FAILED:  # a signal stops the playback too
                console.print(f"playback {result.error} during span {span}", highlight=False)
                return exit_code(result.error)
    console.print(f"played back {len(spans)} spans in {time.perf_counter() - started:.0f} s", highlight=False)
    return EXIT_OK


def command_check_config(args: argparse.Namespace, console: Console) -> int:
    import yaml

    config = config_from_arguments(args)
    console.print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), highlight=False)
    console.print(f"[green]✔[/] {args.config} is valid")
    return EXIT_OK


def command_data(args: argparse.Namespace, console: Console) -> int:
    from data.prepare import materialise_default_data

    if args.destination.exists() and not args.destination.is_dir():
        raise ConfigError(f"--destination {args.destination}: a file; give the folder to write the spans to")
    spans = materialise_default_data(args.destination)
    rows = sum(int(count) for _, _, count in spans)
    console.print(f"[green]✔[/] default taxi data at {args.destination}: {rows} rows in {len(spans)} "
                  f"quarterly spans ({spans[0][1]} to {spans[-1][1]})")
    return EXIT_OK


def command_schema_drift(args: argparse.Namespace, console: Console) -> int:
    """Exit 1 when a clean playback of these spans would already trip a threshold."""
    from data.checks import load_schema
    from data.spans import span_folders
    from pipeline.run.console import output_to_log, quiet_library_noise
    from pipeline.shared.layout import OutputLayout

    config = config_from_arguments(args)
    folders = span_folders(config.paths.data)
    if config.paths.schema_file is None or len(folders) < 2:
        raise ConfigError(f"schema drift needs a curated schema and at least two span-N/ folders under "
                          f"{config.paths.data}")
    quiet_library_noise()
    log = OutputLayout.of(config).log_file("schema-drift", datetime.now())
    console.print(f"measuring {len(folders)} spans of {config.paths.data} with TFDV "
                  f"(its output: {log})…", highlight=False)
    from pipeline.schema.inference import consecutive_drift, unmeasured_features

    schema = load_schema(config.paths.schema_file)
    with output_to_log(log, secret_values(config)):
        rows = consecutive_drift(folders, schema)
    console.print(f"{'feature':<24} {'comparator':<15} {'threshold':>9} {'largest':>8}  between",
                  highlight=False)
    for row in rows:
        threshold = "-" if row.threshold is None else f"{row.threshold:.3f}"
        flag = "" if row.within else "  ABOVE THE THRESHOLD"
        console.print(f"{row.feature:<24} {row.comparator:<15} {threshold:>9} {row.largest:>8.3f}  "
                      f"{row.between}{flag}", highlight=False, markup=False)
    unmeasured = unmeasured_features(schema, rows)
    if unmeasured:
        console.print(f"not measured (no values to compare in any two consecutive spans): "
                      f"{', '.join(unmeasured)}", highlight=False, markup=False)
    return EXIT_OK if all(row.within for row in rows) else EXIT_FAILED


def command_schema_infer(args: argparse.Namespace, console: Console) -> int:
    from data.checks import load_schema
    from pipeline.run.console import quiet_library_noise
    from pipeline.run.inputs import RunInputs

    config = config_from_arguments(args)
    if config.paths.schema_file is None:
        raise ConfigError("paths.schema_file is null: there is no curated schema to compare with")
    root, pattern = RunInputs.select(config.paths.data, "all").example_gen_source(config.paths.output)
    quiet_library_noise()
    console.print(f"inferring a schema from {root}/{pattern} with TFDV…", highlight=False)
    from pipeline.schema.inference import compare, infer_from_csv

    inferred, statistics = infer_from_csv(f"{root}/{pattern}")
    differences = compare(load_schema(config.paths.schema_file), inferred, statistics)
    if args.write:
        from google.protobuf import text_format

        args.write.write_text(text_format.MessageToString(inferred), encoding="utf-8")
        console.print(f"inferred schema written to {args.write}", highlight=False)
    if not differences:
        console.print(f"[green]✔[/] no difference from {config.paths.schema_file}", highlight=False)
        return EXIT_OK
    console.print(f"{len(differences)} difference(s) from {config.paths.schema_file}:", highlight=False)
    for difference in differences:
        console.print(f"  {difference.one_line()}", highlight=False, markup=False)
    return EXIT_FAILED
