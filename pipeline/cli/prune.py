"""`prune`: remove older runs' bulky artifacts from disk, recorded in ML Metadata (pipeline/run/prune)."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from rich.console import Console

from configs.settings import DEFAULT_CONFIG, load_config
from pipeline.cli.common import EXIT_OK, FLAG_SOURCES, add_wait_argument


def register(commands) -> None:
    prune = commands.add_parser(
        "prune", help="remove older runs' examples, models and statistics from disk (lineage kept, "
                      "marked pruned in ML Metadata)")
    prune.add_argument("--keep-last", type=_at_least_one, required=True, metavar="N",
                       help="keep every artifact of the newest N runs (required, at least 1)")
    prune.add_argument("--keep-pushed", action="store_true",
                       help="also keep every run whose model was pushed (default: only the served model's "
                            "lineage is kept beyond the newest N runs)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    prune.add_argument("--reason", default="", help="why, recorded in ML Metadata (default: none recorded)")
    prune.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                       help="configuration whose output folder and store to prune "
                            "(default: configs/local.yaml)")
    prune.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    add_wait_argument(prune)
    prune.add_argument("--json", action="store_true", help="print what was (or would be) removed as JSON")
    prune.set_defaults(handler=command_prune)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: keep at least the newest run (1)")
    return value


def command_prune(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import store as mlmd
    from pipeline.run.lock import exclusive_run
    from pipeline.run.prune import megabytes, prune
    from pipeline.shared.layout import OutputLayout

    values = {"paths.output": args.output} if args.output is not None else {}
    config = load_config(args.config, check_paths=False, values=values, sources=FLAG_SOURCES)
    layout = OutputLayout.of(config)
    user = getpass.getuser()
    with exclusive_run(config, "prune", args.wait):
        store = mlmd.open_store(mlmd.config_connection(config, read_only=args.dry_run))
        result = prune(store, config.pipeline_name, layout.pipeline_root, layout.serving_dir.resolve(),
                       args.keep_last, args.keep_pushed, args.dry_run,
                       {"user": user, "reason": args.reason.strip()})
    plan = result.plan
    if args.json:
        types = {t.id: t.name for t in store.get_artifact_types()}
        print(json.dumps({
            "dry_run": args.dry_run, "kept_runs": plan.kept_runs, "pruned_runs": plan.pruned_runs,
            "artifacts": [{"id": a.id, "type": types[a.type_id], "uri": a.uri} for a in plan.artifacts],
            "bytes": result.bytes, "bytes_by_type": result.by_type,
            "finished_from_an_interrupted_prune": result.finished, "action_id": result.action_id,
            "user": user, "reason": args.reason.strip()}, indent=2))
        return EXIT_OK
    if result.finished:
        console.print(f"Finished first: {result.finished} artifact(s) an interrupted prune had marked.",
                      highlight=False)
    verb = "Would remove" if args.dry_run else "Removed"
    console.print(f"{verb} {len(plan.artifacts)} artifact(s) of {len(plan.pruned_runs)} older run(s), "
                  f"{megabytes(result.bytes)}; kept {len(plan.kept_runs)} run(s) and the served model's "
                  "lineage.", highlight=False)
    for name, size in sorted(result.by_type.items(), key=lambda item: -item[1]):
        console.print(f"  {name:<20} {megabytes(size):>10}", highlight=False, markup=False)
    if args.dry_run:
        console.print("Dry run: nothing removed.", highlight=False)
    elif result.action_id is not None:
        console.print(f"Recorded as release action {result.action_id} for {user}; `lineage show` marks the "
                      "artifacts pruned.", highlight=False)
    return EXIT_OK
