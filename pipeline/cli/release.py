"""`models rollback`: serve an earlier pushed version again, recorded in ML Metadata.

The switch is pipeline/serving/rollback's; the record, pipeline/metadata/releases'.
It holds the run lock, so that it never races a run's push, and writes to the
configuration's store. No TensorFlow.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from rich.console import Console

from configs.settings import ConfigError, load_config
from pipeline.cli.common import EXIT_OK, FLAG_SOURCES, add_wait_argument


def register_release(models_commands, config_argument) -> None:
    rollback = models_commands.add_parser(
        "rollback", help="serve an earlier pushed version again (published as the newest version)")
    rollback.add_argument("--to", metavar="VERSION",
                          help="the version to serve again (default: the newest one holding another model "
                               "than the one served now)")
    rollback.add_argument("--reason", required=True, help="why, recorded in ML Metadata (required)")
    config_argument(rollback)
    rollback.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    add_wait_argument(rollback)
    rollback.add_argument("--json", action="store_true", help="print the action as JSON")
    rollback.set_defaults(handler=command_rollback)


def command_rollback(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import releases
    from pipeline.metadata import store as mlmd
    from pipeline.run.lock import exclusive_run
    from pipeline.serving.rollback import plan_rollback, publish
    from pipeline.shared.layout import OutputLayout

    if not args.reason.strip():
        raise ConfigError("--reason: empty; say why the served model changes (it is recorded)")
    values = {"paths.output": args.output} if args.output is not None else {}
    config = load_config(args.config, check_paths=False, values=values, sources=FLAG_SOURCES)
    serving_dir = OutputLayout.of(config).serving_dir
    user = getpass.getuser()
    with exclusive_run(config, "models rollback", args.wait):
        store = mlmd.open_store(mlmd.config_connection(config))
        releases.settle_unfinished(store, config.pipeline_name, _complete_versions(serving_dir))
        plan = plan_rollback(serving_dir, args.to)
        action = releases.begin(store, config.pipeline_name, {
            "action": releases.ROLLBACK, "user": user, "reason": args.reason,
            "from_version": plan.from_version, "to_version": plan.to_version,
            "new_version": plan.new_version, "serving_dir": str(serving_dir)})
        publish(plan, {"action": releases.ROLLBACK, "user": user, "reason": args.reason})
        releases.finish(store, action, plan.new_version, str(plan.new_path), _pushed_artifact(store, plan))
    summary = {"action": releases.ROLLBACK, "from_version": plan.from_version, "to_version": plan.to_version,
               "new_version": plan.new_version, "path": str(plan.new_path), "user": user,
               "reason": args.reason}
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    console.print(f"Rolled back: version {plan.new_version} now serves the model of version "
                  f"{plan.to_version} (was {plan.from_version}); recorded for {user}.", highlight=False)
    return EXIT_OK


def _complete_versions(serving_dir) -> set[str]:
    from components.versioned_pusher.versions import complete_local_versions

    return {str(version) for version in complete_local_versions(serving_dir)}


def _pushed_artifact(store, plan):
    """The PushedModel that first published the version served again, when the store has it."""
    from components.versioned_pusher.properties import PUSHED_VERSION
    from pipeline.metadata import store as mlmd

    found = [artifact for artifact in mlmd.artifacts_by_type(store, "PushedModel")
             if str(mlmd.custom_value(artifact, PUSHED_VERSION)) == plan.to_version]
    return min(found, key=lambda artifact: artifact.id) if found else None
