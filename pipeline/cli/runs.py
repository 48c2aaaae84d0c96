"""`why`, `report` and `models`: one run's decision, its page, and every pushed version.

All three read ML Metadata through pipeline.metadata.outcome; none imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from pipeline.cli.common import (
    EXIT_OK,
    add_store_arguments,
    fixed,
    open_store_from_arguments,
    refuse_folder,
    whole_column,
)
from pipeline.cli.release import register_release


def register(commands) -> None:
    why = commands.add_parser("why", help="why a run's model was (not) blessed and released")
    add_why_arguments(why)

    models = commands.add_parser("models", help="list pushed model versions with run and metrics, and "
                                 "change which one is served (models rollback)")
    add_store_arguments(models)
    models.set_defaults(handler=command_models)
    actions = models.add_subparsers(dest="models_command", metavar="ACTION",
                                    help="change what is served (default: list the pushed models)")
    register_release(actions, config_argument)
    history = actions.add_parser("history", help="every recorded release action, newest first (rollbacks, "
                                 "pins, blesses, prunes, schedule actions)")
    add_store_arguments(history)
    history.set_defaults(handler=command_history)

    report = commands.add_parser("report", help="write a run's self-contained HTML report")
    report.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    report.add_argument("--output", type=Path,
                        help="HTML file to write (default: reports/run-<id>.html beside the store)")
    add_store_arguments(report, json_output=False)
    report.set_defaults(handler=command_report)


def config_argument(parser: argparse.ArgumentParser) -> None:
    from configs.settings import DEFAULT_CONFIG

    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="configuration whose serving folder and metadata store to change "
                             "(default: configs/local.yaml)")


def add_why_arguments(parser: argparse.ArgumentParser) -> None:
    """`why` and `lineage why` are one command."""
    parser.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    add_store_arguments(parser)
    parser.set_defaults(handler=command_why)


def command_why(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata.outcome import find_run, read_outcome
    from pipeline.metadata.run_facts import rerun_facts, rerun_text

    opened = open_store_from_arguments(args)
    store = opened.store
    outcome = read_outcome(store, find_run(store, args.run, opened.pipeline))
    if args.json:
        print(json.dumps({"run_id": outcome.run_id, "verdict": outcome.verdict, "blessed": outcome.blessed,
                          "no_verdict": outcome.missing_verdict,
                          **outcome.push_facts(),
                          **rerun_facts(outcome.run), "pruned_artifacts": outcome.pruned,
                          "failed_components": outcome.failed_components(),
                          "stopped_at": outcome.unfinished_components(), "status": outcome.status,
                          "anomalies": [row.as_dict() for row in outcome.anomalies]}, indent=2))
        return EXIT_OK
    rerun = rerun_text(outcome.run)
    console.print(f"Run {outcome.run_id}" + (f" ({rerun})" if rerun else ""),
                  highlight=False, markup=False)
    if outcome.pruned:
        console.print(f"  Pruned: {outcome.pruned} artifact(s) removed from disk by `prune`; the decision "
                      "records below remain.", highlight=False, markup=False)
    for record in outcome.release_actions:
        console.print(f"  Release action: {record.one_line()}", highlight=False, markup=False)
    if outcome.verdict is None:
        console.print(f"  No verdict: {outcome.missing_verdict}.", highlight=False)
        if outcome.stop_reason:
            console.print("  " + outcome.stop_reason.replace("\n", "\n  "), highlight=False, markup=False)
        else:
            for row in outcome.anomalies:
                console.print(f"  {row.one_line()}", highlight=False, markup=False)
        return EXIT_OK
    from pipeline.report.summary import verdict_lines

    for line in verdict_lines(outcome.verdict):
        console.print("  " + line, highlight=False, markup=False)
    console.print(f"  Pushed: {outcome.pushed_text}", highlight=False, markup=False)
    return EXIT_OK


def command_report(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata.outcome import find_run
    from pipeline.report.page import build_report, write_report
    from pipeline.shared.layout import OutputLayout

    opened = open_store_from_arguments(args)
    store = opened.store
    run = find_run(store, args.run, opened.pipeline)
    store_file = Path(args.store) if args.store and Path(args.store).is_file() else None
    layout = OutputLayout.beside_store(store_file) if store_file else OutputLayout.of(opened.config)
    refuse_folder("--output", args.output, "HTML file")
    path = args.output or layout.report_file(run.name)
    write_report(build_report(store, run), path)
    console.print(f"wrote {path}", highlight=False)
    return EXIT_OK


RELEASE_LINES = 10  # the newest release actions `models` lists under its table


def _models_table(rows):
    from rich.table import Table

    table = Table("", whole_column("version", [row.version for row in rows]), "pushed at",
                  whole_column("run", [row.run_id for row in rows]), "AUC", "accuracy", "path", box=None)
    for row in rows:
        missing = row.metrics_missing or "not computed"
        table.add_row("pinned" if row.pinned else ("served" if row.served else ""), row.version,
                      row.pushed_at, row.run_id, fixed(row.auc, missing), fixed(row.binary_accuracy, missing),
                      row.path + (f"  ({row.note})" if row.note else ""))
    return table


def command_models(args: argparse.Namespace, console: Console) -> int:
    from dataclasses import asdict

    from components.versioned_pusher.versions import complete_local_versions
    from pipeline.metadata.lineage import pushed_models
    from pipeline.serving.pin import read_pin
    from pipeline.shared.layout import OutputLayout

    opened = open_store_from_arguments(args)
    # What is served is the serving folder's newest complete version, when the folder is on this machine.
    serving_dir = None if args.store else OutputLayout.of(opened.config).serving_dir
    versions = complete_local_versions(serving_dir) if serving_dir else []
    pin = read_pin(serving_dir) if serving_dir else None
    rows = pushed_models(opened.store, opened.pipeline, str(versions[-1]) if versions else None,
                         pinned=pin is not None)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return EXIT_OK
    if rows:
        console.print(_models_table(rows))
    else:  # the release actions below may still say something (a schedule action recorded in KFP's store)
        console.print("No model has been pushed yet.")
    print_release_actions(console, opened.store, opened.pipeline)
    if pin is not None:
        console.print(f"{pin.sentence()[0].upper()}{pin.sentence()[1:]} (since {pin.at}): runs train and "
                      "evaluate, but push nothing until `models unpin`.", highlight=False, markup=False)
    return EXIT_OK


def print_release_actions(console: Console, store, pipeline: str | None) -> None:
    """The newest release actions, under the table of `models` and of `lineage runs`."""
    from pipeline.metadata import releases

    history = releases.release_history(store, pipeline)
    if history:
        console.print("Release actions, newest first (all: models history):", highlight=False)
        for record in history[:RELEASE_LINES]:
            console.print(f"  {record.one_line()}", highlight=False, markup=False)


def command_history(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import releases

    opened = open_store_from_arguments(args)
    history = releases.release_history(opened.store, opened.pipeline)
    if args.json:
        print(json.dumps([record.as_dict() for record in history], indent=2))
    elif not history:
        console.print("No release action has been recorded.", highlight=False)
    for record in [] if args.json else history:
        console.print(record.one_line(), highlight=False, markup=False)
    return EXIT_OK
