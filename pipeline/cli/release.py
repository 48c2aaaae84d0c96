"""`models rollback | pin | unpin | bless`: change what is served, each change recorded in ML Metadata.

The changes on disk are pipeline/serving's (rollback.py, pin.py, bless.py); the records,
pipeline/metadata/releases'. Every action holds the run lock, so that it never
races a run's push, settles what a killed action left first, and writes to the
configuration's store. No TensorFlow.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from components.versioned_pusher.versions import Pin
from configs.settings import ConfigError, PipelineConfig, load_config
from pipeline.cli.common import EXIT_OK, FLAG_SOURCES, add_wait_argument


def register_release(models_commands, config_argument) -> None:
    rollback = models_commands.add_parser(
        "rollback", help="serve an earlier pushed version again (published as the newest version)")
    rollback.add_argument("--to", metavar="VERSION",
                          help="the version to serve again (default: the newest one holding another model "
                               "than the one served now)")
    _common_arguments(rollback, config_argument, command_rollback)
    pin = models_commands.add_parser(
        "pin", help="hold the served version: runs still train and evaluate, but push nothing")
    pin.add_argument("version", help="the version served now (or one holding the same model)")
    _common_arguments(pin, config_argument, command_pin)
    unpin = models_commands.add_parser("unpin", help="lift the pin: the next blessed model is pushed again")
    _common_arguments(unpin, config_argument, command_unpin)
    bless = models_commands.add_parser(
        "bless", help="push a run's model that the Evaluator did not bless, with an audit record")
    bless.add_argument("run", help="run id or prefix ('latest': the newest run)")
    _common_arguments(bless, config_argument, command_bless)


def _common_arguments(parser: argparse.ArgumentParser, config_argument, handler) -> None:
    parser.add_argument("--reason", required=True, help="why, recorded in ML Metadata (required)")
    config_argument(parser)
    parser.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    add_wait_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the action as JSON")
    parser.set_defaults(handler=handler)


@dataclass
class Release:
    """What every action needs: the config, its serving folder, the store, who acts and why."""

    config: PipelineConfig
    serving_dir: Path
    store: object
    user: str
    reason: str
    pin: Pin | None  # the serving folder's pin, read once under the lock

    def refuse_if_pinned(self) -> None:
        if self.pin is not None:
            raise ConfigError(f"{self.pin.sentence()}; `models unpin` first")

    def begin(self, action: str, **values: str):
        from pipeline.metadata import releases

        return releases.begin(self.store, self.config.pipeline_name, {
            "action": action, "user": self.user, "reason": self.reason,
            "serving_dir": str(self.serving_dir), **values})


def _acting(args: argparse.Namespace, action: str):
    """Checks the reason and the config, then holds the run lock while the action runs."""
    from contextlib import contextmanager

    from pipeline.metadata import releases
    from pipeline.metadata import store as mlmd
    from pipeline.run.lock import exclusive_run
    from pipeline.serving.pin import read_pin
    from pipeline.shared.layout import OutputLayout

    if not args.reason.strip():
        raise ConfigError("--reason: empty; say why the served model changes (it is recorded)")
    values = {"paths.output": args.output} if args.output is not None else {}
    config = load_config(args.config, check_paths=False, values=values, sources=FLAG_SOURCES)
    serving_dir = OutputLayout.of(config).serving_dir.resolve()  # as the run records its pushes

    @contextmanager
    def held():
        with exclusive_run(config, f"models {action}", args.wait):
            store = mlmd.open_store(mlmd.config_connection(config))
            pin = read_pin(serving_dir)
            releases.settle_unfinished(store, config.pipeline_name, _complete_versions(serving_dir),
                                       pin.action_id if pin else None)
            yield Release(config, serving_dir, store, getpass.getuser(), args.reason, pin)

    return held()


def command_rollback(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import releases
    from pipeline.serving.rollback import plan_rollback, publish

    with _acting(args, releases.ROLLBACK) as release:
        release.refuse_if_pinned()
        plan = plan_rollback(release.serving_dir, args.to)
        # run_id: the run whose model is served again, so that its `why` and report list the rollback.
        action = release.begin(releases.ROLLBACK, from_version=plan.from_version, to_version=plan.to_version,
                               new_version=plan.new_version, run_id=plan.run_id)
        publish(plan, {"action": releases.ROLLBACK, "user": release.user, "reason": release.reason})
        releases.finish(release.store, action, plan.new_version, str(plan.new_path),
                        _pushed_artifact(release.store, plan.to_version))
    return _report(args, console, release, releases.ROLLBACK,
                   {"from_version": plan.from_version, "to_version": plan.to_version,
                    "new_version": plan.new_version, "path": str(plan.new_path)},
                   f"Rolled back: version {plan.new_version} now serves the model of version "
                   f"{plan.to_version} (was {plan.from_version})")


def command_pin(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import releases
    from pipeline.metadata.store import utc
    from pipeline.serving.pin import check_pinnable, write_pin
    from pipeline.serving.publish import trained_by

    with _acting(args, releases.PIN) as release:
        if release.pin is not None:
            raise ConfigError(f"already {release.pin.sentence()}; `models unpin` first")
        served = check_pinnable(release.serving_dir, args.version)
        action = release.begin(releases.PIN, from_version=served, to_version=args.version,
                               run_id=trained_by(release.serving_dir, served))
        pin = Pin(version=args.version, user=release.user, reason=release.reason,
                  at=utc(int(time.time() * 1000)), action_id=action.id)
        write_pin(release.serving_dir, pin)
        releases.complete(release.store, action)
    return _report(args, console, release, releases.PIN, {"version": args.version, "served_version": served},
                   f"Pinned: version {served} stays served; runs push nothing until `models unpin`")


def command_unpin(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import releases
    from pipeline.serving.pin import remove_pin
    from pipeline.serving.publish import trained_by

    with _acting(args, releases.UNPIN) as release:
        pinned = release.pin
        if pinned is None:
            raise ConfigError(f"nothing is pinned in {release.serving_dir}")
        action = release.begin(releases.UNPIN, to_version=pinned.version,
                               run_id=trained_by(release.serving_dir, pinned.version))
        remove_pin(release.serving_dir)
        releases.complete(release.store, action)
    return _report(args, console, release, releases.UNPIN,
                   {"version": pinned.version, "was": pinned.sentence()},
                   f"Unpinned version {pinned.version} (was {pinned.sentence()}); the next blessed model "
                   "is pushed")


def command_bless(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import releases
    from pipeline.metadata.outcome import find_run, read_outcome
    from pipeline.serving.bless import TRAINER, plan_bless, publish_blessed

    with _acting(args, releases.BLESS) as release:
        outcome = read_outcome(release.store, find_run(release.store, args.run, release.config.pipeline_name))
        release.refuse_if_pinned()
        plan = plan_bless(outcome, release.serving_dir)
        action = release.begin(releases.BLESS, from_version=plan.from_version, new_version=plan.new_version,
                               run_id=plan.run_id)
        publish_blessed(plan, release.user, release.reason)
        (model,) = outcome.produced(TRAINER, "Model")
        releases.finish(release.store, action, plan.new_version, str(plan.new_path), model)
    return _report(args, console, release, releases.BLESS,
                   {"run_id": plan.run_id, "from_version": plan.from_version, "new_version": plan.new_version,
                    "path": str(plan.new_path), "blessed": outcome.blessed},
                   f"Blessed by hand: the model of run {plan.run_id} is now served as version "
                   f"{plan.new_version} (was {plan.from_version})")


def _report(args, console: Console, release: Release, action: str, values: dict, sentence: str) -> int:
    if args.json:
        print(json.dumps({"action": action, **values, "user": release.user, "reason": release.reason},
                         indent=2))
    else:
        console.print(f"{sentence}; recorded for {release.user}.", highlight=False, markup=False)
    return EXIT_OK


def _complete_versions(serving_dir) -> set[str]:
    from components.versioned_pusher.versions import complete_local_versions

    return {str(version) for version in complete_local_versions(serving_dir)}


def _pushed_artifact(store, version: str):
    """The PushedModel that first published `version`, when the store has it."""
    from components.versioned_pusher.properties import PUSHED_VERSION
    from pipeline.metadata import store as mlmd

    found = [artifact for artifact in mlmd.artifacts_by_type(store, "PushedModel")
             if str(mlmd.custom_value(artifact, PUSHED_VERSION)) == version]
    return min(found, key=lambda artifact: artifact.id) if found else None
