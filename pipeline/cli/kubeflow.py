"""`compile`, `submit` and `schedule --name` (create a recurring run): Kubeflow Pipelines 2.x.

The other schedule actions (list, pause, resume, trigger, update) are in schedule_actions.

The host and token come from flags or KFP_HOST/KFP_TOKEN (configs.settings reads
the environment); TFX loads only to compile.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from configs.settings import ConfigError, PipelineConfig, load_config, secret_values
from pipeline.cli.common import EXIT_OK, require_kubeflow_section


def register(commands) -> None:
    compile_ = commands.add_parser("compile", help="compile for Kubeflow Pipelines 2.x (pipeline spec YAML)")
    _add_kubeflow_arguments(compile_)
    compile_.set_defaults(handler=command_compile)

    submit = commands.add_parser("submit", help="start one run on Kubeflow Pipelines")
    _add_kubeflow_arguments(submit)
    _add_server_arguments(submit)
    submit.add_argument("--run-name", help="default: '<pipeline> <UTC time>'")
    submit.set_defaults(handler=command_submit)

    schedule = commands.add_parser(
        "schedule", help="create a recurring run on Kubeflow Pipelines (with --name), or list, pause, "
                         "resume, trigger or update one")
    _add_kubeflow_arguments(schedule)
    _add_server_arguments(schedule)
    schedule.add_argument("--name", help="recurring run name, unique in the experiment (required to create)")
    schedule.add_argument("--cron", help="KFP cron, six fields, seconds first: '0 0 2 * * *' = 02:00 daily")
    schedule.add_argument("--every", help="fixed interval instead of --cron: 30m, 6h, 1d")
    schedule.add_argument("--replace", action="store_true",
                          help="delete a recurring run of the same name and create it anew (to change "
                               "only what it fires, use `schedule update NAME`)")
    schedule.set_defaults(handler=command_schedule)  # schedule_actions adds list, pause, ...


def _add_kubeflow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=Path("configs/kubeflow.yaml"),
                        help="YAML configuration with a kubeflow: section (default: configs/kubeflow.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set kubeflow.image=...:1.2 (repeatable)")
    parser.add_argument("--output", type=Path, default=Path("build/pipeline.yaml"),
                        help="where the compiled spec goes (default: build/pipeline.yaml)")


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", type=Path,
                        help="an already compiled spec to send (default: compile to --output first)")
    parser.add_argument("--host", help="Kubeflow Pipelines API, e.g. http://localhost:8080 "
                        "(default: $KFP_HOST; the token, if any, comes from $KFP_TOKEN)")
    parser.add_argument("--namespace", help="Kubeflow profile namespace (multi-user deployments)")
    parser.add_argument("--experiment", help="default: kubeflow.experiment of the config")
    parser.add_argument("--pipeline-root", help="object storage for artifacts, e.g. gs://bucket/root "
                        "(default: kubeflow.pipeline_root of the config)")
    parser.add_argument("--dry-run", action="store_true", help="print the requests; send nothing")


def kubeflow_config(args: argparse.Namespace) -> PipelineConfig:
    return require_kubeflow_section(load_config(args.config, args.overrides, check_paths=False), args.config)


def compile_for_kubeflow(config: PipelineConfig, output: Path, console: Console):
    from pipeline.run.console import output_to_log, quiet_library_noise

    quiet_library_noise()
    log_file = output.parent / "compile.log"
    console.print(f"compiling {config.pipeline_name} for Kubeflow Pipelines (loading TFX; log: {log_file})…",
                  highlight=False)
    try:
        with output_to_log(log_file, secret_values(config)):  # TensorFlow's start-up chatter goes to the log
            from pipeline.kubeflow.compile import compile_pipeline

            compiled = compile_pipeline(config, output)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    console.print(f"[green]✔[/] {compiled.path}: pipeline {compiled.name}, schema {compiled.schema_version}, "
                  f"{len(compiled.tasks)} tasks, image {compiled.image}", highlight=False)
    for task, upstream in compiled.tasks.items():
        console.print(f"  {task:<20} after {', '.join(upstream) or '-'}", highlight=False)
    return compiled


def command_compile(args: argparse.Namespace, console: Console) -> int:
    compile_for_kubeflow(kubeflow_config(args), args.output, console)
    return EXIT_OK


def given_package(args: argparse.Namespace) -> Path | None:
    """--package, checked before anything is compiled or sent."""
    if args.package is not None and not args.package.is_file():
        raise ConfigError(f"--package {args.package}: no such file")
    return args.package


def package_to_send(args: argparse.Namespace, config: PipelineConfig, console: Console) -> Path:
    return given_package(args) or compile_for_kubeflow(config, args.output, console).path


def _server(args: argparse.Namespace):
    from configs.settings import kfp_endpoint
    from pipeline.kubeflow.submit import KubeflowPipelines

    if args.dry_run:
        return None
    host, token = kfp_endpoint(args.host)
    return KubeflowPipelines(host, token, args.namespace)


def _print_plan(console: Console, plan, dry_run: bool) -> None:
    heading = "dry run: nothing was sent. The requests would be:" if dry_run else "sent:"
    console.print(heading, highlight=False)
    for step in plan.steps:
        console.print("  " + json.dumps(step), highlight=False, markup=False)


def command_submit(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kubeflow.submit import submit

    config = kubeflow_config(args)
    given_package(args)  # a wrong argument fails before any request
    server = _server(args)  # before compiling: a missing host fails in a second, not after TFX loads
    package = package_to_send(args, config, console)
    plan = submit(server, package, config.pipeline_name, args.experiment or config.kubeflow.experiment,
                  args.pipeline_root or config.kubeflow.pipeline_root, args.run_name)
    _print_plan(console, plan, args.dry_run)
    return EXIT_OK


def command_schedule(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kubeflow.schedules import create
    from pipeline.kubeflow.submit import Trigger

    if not args.name:
        raise ConfigError("schedule: give --name (and --cron or --every) to create a recurring run, or a "
                          "command: list, pause, resume, trigger, update (schedule --help)")
    config = kubeflow_config(args)
    trigger = Trigger.parse(args.cron, args.every)
    given_package(args)  # a wrong argument fails before any request
    server = _server(args)
    package = package_to_send(args, config, console)
    plan = create(server, package, config.pipeline_name, args.experiment or config.kubeflow.experiment,
                    args.pipeline_root or config.kubeflow.pipeline_root, args.name, trigger, args.replace)
    _print_plan(console, plan, args.dry_run)
    return EXIT_OK
