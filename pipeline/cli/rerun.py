"""`rerun RUN`: run again with the configuration a run recorded, after saying what differs now.

The comparison is pipeline/run/rerun's, the run the run service's; this module
prints. When an input file's content changed, nothing runs without --force.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from configs.settings import DEFAULT_CONFIG, ConfigError, load_config
from pipeline.cli.common import EXIT_OK, EXIT_USAGE, FLAG_SOURCES, add_wait_argument


def register(commands) -> None:
    rerun = commands.add_parser(
        "rerun", help="run again with the configuration a run recorded, after showing what differs now")
    rerun.add_argument("run", help="run id or prefix ('latest': the newest run)")
    rerun.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                       help="configuration whose metadata store holds the run (default: configs/local.yaml)")
    rerun.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    rerun.add_argument("--force", action="store_true",
                       help="run even when input files changed since that run (on the files as they are now)")
    rerun.add_argument("--dry-run", action="store_true", help="show what differs now, run nothing")
    rerun.add_argument("--reason", default="", help="why, recorded on the new run (default: none recorded)")
    add_wait_argument(rerun)
    rerun.add_argument("--json", action="store_true", help="print the differences and the new run as JSON")
    rerun.set_defaults(handler=command_rerun)


def command_rerun(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import run_facts
    from pipeline.metadata import store as mlmd
    from pipeline.metadata.outcome import find_run
    from pipeline.run.rerun import plan_rerun

    values = {"paths.output": args.output} if args.output is not None else {}
    config = load_config(args.config, check_paths=False, values=values, sources=FLAG_SOURCES)
    store = mlmd.open_store(mlmd.config_connection(config, read_only=True))
    plan = plan_rerun(find_run(store, args.run, config.pipeline_name))
    report = {"rerun_of": plan.run_id, "config_file": str(plan.config_file),
              "differences": [asdict(difference) for difference in plan.differences],
              "data_changed": plan.data_changed}
    if not args.json:
        _print_plan(console, plan)
    refused = None
    if plan.data_changed and not args.force:
        refused = (f"input files changed since run {plan.run_id}; nothing ran. `rerun --force` runs on "
                   "the files as they are now")
    if args.dry_run or refused:
        if args.json:
            print(json.dumps({**report, "ran": False, "refused": refused}, indent=2))
            return EXIT_USAGE if refused else EXIT_OK
        if refused:
            raise ConfigError(refused)
        console.print("Dry run: nothing ran.", highlight=False)
        return EXIT_OK
    extra = {run_facts.RERUN_OF: plan.run_id}
    if args.reason.strip():
        extra[run_facts.RERUN_REASON] = args.reason.strip()
    result = _run(args, console, plan, extra)
    from pipeline.cli.run import exit_code

    if args.json:
        outcome = result.outcome
        print(json.dumps({**report, "ran": True, "run_id": result.run_id,
                          "status": outcome.status if outcome else "failed",
                          "blessed": outcome.blessed if outcome else None,
                          **(outcome.push_facts() if outcome else {}),
                          "error": result.error_text or None}, indent=2, default=str))
    else:
        from pipeline.report.summary import print_run_summary

        print_run_summary(console, result)
    return exit_code(result.error)


def _run(args: argparse.Namespace, console: Console, plan, extra: dict[str, str]):
    from pipeline.run.service import RunService

    service = RunService(plan.config, plan.config_file)
    preflight = service.preflight()

    def say(message: str) -> None:
        if not args.json:
            console.print("  " + message, highlight=False, markup=False)

    with service.exclusive("rerun", args.wait, say):
        log_file = service.new_log_file("rerun")
        say(f"log     {log_file}")
        return service.execute(preflight, log_file, show_progress=not args.json, extra_facts=extra)


def _print_plan(console: Console, plan) -> None:
    from rich.table import Table
    from rich.text import Text

    from pipeline.metadata.trace_view import value_text

    console.print(f"Rerun of {plan.run_id} with its recorded configuration (from {plan.config_file})",
                  highlight=False, markup=False)
    if not plan.differences:
        console.print("  Same code, configuration and input files as that run.", highlight=False)
        return
    console.print(f"  {len(plan.differences)} difference(s) from that run, now:", highlight=False)
    table = Table("section", "key", "recorded", "now", box=None, padding=(0, 1, 0, 2))
    for difference in plan.differences:
        table.add_row(Text(difference.section), Text(difference.key), Text(value_text(difference.recorded)),
                      Text(value_text(difference.now)))
    console.print(table)
    if any(difference.section == "code" for difference in plan.differences):
        console.print("  The rerun uses the code as it is now; `git checkout` the recorded commit first "
                      "to run the recorded code.", highlight=False, markup=False)
