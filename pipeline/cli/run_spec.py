"""`run-spec`: run a compiled Kubeflow spec on this machine, task by task through its container commands."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console

from configs.sections import MetadataConfig
from configs.settings import ConfigError, secret_values
from pipeline.cli.common import EXIT_FAILED, EXIT_OK


def register(commands) -> None:
    parser = commands.add_parser(
        "run-spec", help="run a compiled Kubeflow spec locally, each task through its container command")
    parser.add_argument("spec", type=Path, help="the compiled pipeline spec (output of `compile`)")
    parser.add_argument("--root", type=Path, required=True,
                        help="local folder for the runs' artifacts, logs and cache "
                             "(stands in for object storage)")
    parser.add_argument("--run-id", help="default: <pipeline>-<UTC time>")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1,
                        help="tasks run side by side when the DAG allows (default: one per core)")
    parser.add_argument("--store", help="also record the run as KFP's launcher does, in this ML Metadata "
                        "store: a SQLite path (created if missing), mysql://… or postgresql://… "
                        "(password from TAXI_TFX_METADATA_PASSWORD)")
    parser.add_argument("--json", action="store_true", help="print the run's tasks as JSON at the end")
    parser.set_defaults(handler=command_run_spec)


def command_run_spec(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kubeflow.compiled_spec import CompiledSpec, SpecError
    from pipeline.kubeflow.run_spec import SpecRunner, new_run_id
    from pipeline.run.interrupts import RunInterrupted, signals_raise

    try:
        spec = CompiledSpec.load(args.spec)
        run_id = args.run_id or new_run_id(spec.pipeline_name)
        runner = SpecRunner(spec, args.root, run_id=run_id, parallel=args.parallel, secrets=secret_values())
        runner.claim_run_dir()  # before anything is recorded: a run id is never reused
    except SpecError as error:
        raise ConfigError(str(error)) from None
    recorder = _recorder(args.store, spec.pipeline_name, runner) if args.store else None
    images = {task.name: task.container.get("image", "") for task in spec.tasks.values()}
    printer = TaskPrinter(console, quiet=args.json)

    def started(name: str) -> None:
        if recorder:
            recorder.start_task(name, images[name])

    def done(result) -> None:
        printer.done(result)
        if recorder:
            recorder.record_task(result)

    runner.on_task_start, runner.on_task_done = started, done
    if not args.json:
        console.print(f"{spec.pipeline_name} · compiled spec {args.spec} · run {run_id}", highlight=False)
        console.print(f"  root    {runner.run_dir}", highlight=False)
    try:
        with signals_raise():
            result = runner.run()
    except RunInterrupted as error:
        if recorder:
            recorder.interrupted(str(error))
        console.print(f"run {run_id} {error}: its running tasks were stopped (record: {runner.run_dir})",
                      style="red", highlight=False)
        return error.exit_code
    if recorder:
        recorder.finish(result)
    return _report(result, args, console, printer)


def _recorder(store_url: str, pipeline_name: str, runner):
    from pipeline.kubeflow.metadata import KfpRunRecorder
    from pipeline.metadata import store as mlmd

    if "://" in store_url and not store_url.startswith("sqlite://"):
        connection = mlmd.connection_from_url(store_url, os.environ.get(MetadataConfig().password_env))
    else:
        path = Path(store_url.removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = mlmd.sqlite_connection(path.resolve())
    return KfpRunRecorder(mlmd.open_store(connection), pipeline_name, runner.run_id, str(runner.root),
                          secret_values())


def _report(result, args: argparse.Namespace, console: Console, printer: TaskPrinter) -> int:
    from pipeline.kubeflow.task_results import NOT_STARTED

    if args.json:
        console.print(json.dumps(result.summary(), indent=2), highlight=False, markup=False, soft_wrap=True)
    else:
        for task in result.tasks.values():
            if task.state == NOT_STARTED:
                printer.not_started(task)
    if result.succeeded:
        if not args.json:
            cached = sum(task.state == "CACHED" for task in result.tasks.values())
            console.print(f"Run {result.run_id} succeeded: {len(result.tasks)} tasks ({cached} cached).",
                          highlight=False)
        return EXIT_OK
    for task in result.failed:
        console.print(f"task {task.name} failed: {task.error}", style="red", highlight=False, markup=False)
    skipped = [task.name for task in result.tasks.values() if task.state == NOT_STARTED]
    if skipped:
        console.print(f"Not started, as on Kubeflow after a failed upstream task: {', '.join(skipped)}",
                      highlight=False)
    return EXIT_FAILED


class TaskPrinter:
    """One line per task as it finishes, in the local run's format."""

    def __init__(self, console: Console, quiet: bool):
        self.console, self.quiet = console, quiet

    def done(self, result) -> None:
        if self.quiet:
            return
        from pipeline.run.console import progress_line

        failed = result.state == "FAILED"
        note = {"FAILED": "FAILED", "CACHED": f"cached (run {result.cached_from})"}.get(result.state, "done")
        self.console.print(progress_line(result.name, result.seconds, note, failed), highlight=False)

    def not_started(self, result) -> None:
        self.console.print(f"  [dim]·[/] {result.name:<32} {'':>7}  not started", highlight=False)
