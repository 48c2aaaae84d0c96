"""`schedule list | pause | resume | trigger | update`: recurring runs on Kubeflow Pipelines, by name.

Each answer names the pipeline version the recurring run fires. The four that
change something need `--reason`; with `--store` or `kubeflow.metadata_store`
(KFP's own ML Metadata, `grpc://host:port` through a port-forward, or any
store `lineage --store` reads) each is recorded there as a release action:
RUNNING before the request, COMPLETE or FAILED after, with who, why and what
changed, so `models --store` lists it beside rollbacks and pins. The store is
opened before any request, so a wrong one changes nothing on the server.
"""

from __future__ import annotations

import argparse
import getpass
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from configs.settings import ConfigError, PipelineConfig
from pipeline.cli.common import EXIT_OK
from pipeline.cli.kubeflow import given_package, kubeflow_config, package_to_send

ACTIONS = (("pause", "pause a recurring run (it stays, and fires nothing)"),
           ("resume", "resume a paused recurring run"),
           ("trigger", "start one run now of the pipeline version the recurring run fires"))


def register(schedule: argparse.ArgumentParser) -> None:
    actions = schedule.add_subparsers(dest="schedule_command", metavar="ACTION", required=False,
                                      help="manage recurring runs (default: create one, with --name)")
    listing = actions.add_parser("list", help="the experiment's recurring runs and the version each runs")
    _add_arguments(listing, command_list)
    for name, text in ACTIONS:
        action = actions.add_parser(name, help=text)
        action.add_argument("name", help="the recurring run's name")
        _add_record_arguments(action)
        _add_arguments(action, command_action)
    update = actions.add_parser(
        "update", help="make a recurring run fire the current spec, in place: the spec becomes the newest "
                       "version of the recurring run's own pipeline")
    update.add_argument("name", help="the recurring run's name")
    update.add_argument("--package", type=Path,
                        help="an already compiled spec (default: compile to --output first)")
    update.add_argument("--output", type=Path, default=Path("build/pipeline.yaml"),
                        help="where the compiled spec goes (default: build/pipeline.yaml)")
    update.add_argument("--force", action="store_true",
                        help="a pinned recurring run (made by hand or before this project followed "
                             "the newest version) is replaced: do it even while one of its runs is in "
                             "progress (that run is stopped)")
    _add_record_arguments(update)
    _add_arguments(update, command_update)


def _add_record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why (required; recorded with --store)")
    parser.add_argument("--store", help="record the action in this ML Metadata store: KFP's as "
                        "grpc://host:port, or an SQLite path, mysql://… or postgresql://… "
                        "(as lineage --store; default: kubeflow.metadata_store)")


def _add_arguments(parser: argparse.ArgumentParser, handler) -> None:
    parser.add_argument("--config", type=Path, default=Path("configs/kubeflow.yaml"),
                        help="YAML configuration with a kubeflow: section (default: configs/kubeflow.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value (repeatable)")
    parser.add_argument("--host", help="Kubeflow Pipelines API (default: $KFP_HOST; token from $KFP_TOKEN)")
    parser.add_argument("--namespace", help="Kubeflow profile namespace (multi-user deployments)")
    parser.add_argument("--experiment", help="default: kubeflow.experiment of the config")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.set_defaults(handler=handler)


@dataclass(frozen=True)
class Target:
    """What an action works on, each decided once: the reason and the store are checked first."""

    config: PipelineConfig
    server: object  # KubeflowPipelines
    experiment: str
    experiment_id: str
    store: object | None  # where the action is recorded, or None
    store_url: str | None  # --store, else kubeflow.metadata_store


def _target(args: argparse.Namespace) -> Target:
    from configs.settings import kfp_endpoint
    from pipeline.kubeflow.submit import KubeflowPipelines

    if getattr(args, "reason", None) is not None and not args.reason.strip():
        raise ConfigError("--reason: empty; say why the recurring run changes (it is recorded)")
    config = kubeflow_config(args)
    recording = hasattr(args, "reason")  # `list` records nothing
    store_url = (getattr(args, "store", None) or config.kubeflow.metadata_store) if recording else None
    store = _record_store(store_url, config)
    host, token = kfp_endpoint(args.host)
    server = KubeflowPipelines(host, token, args.namespace)
    experiment = args.experiment or config.kubeflow.experiment
    return Target(config, server, experiment, server.experiment(experiment), store, store_url)


def _record_store(url: str | None, config: PipelineConfig):
    if not url:
        return None
    from pipeline.metadata import store as mlmd

    return mlmd.open_store(mlmd.connection_from_url(url, config.metadata_password(), read_only=False))


@contextmanager
def _recorded(args: argparse.Namespace, target: Target, schedule):
    """Yields the record's fields to fill in (detail, to_version, run_id); recorded only with --store."""
    from pipeline.metadata import releases

    record = {"action": f"{releases.SCHEDULE_PREFIX}{args.schedule_command}", "user": getpass.getuser(),
              "reason": args.reason, "from_version": schedule.version_ref,
              "detail": f"{schedule.name} ({schedule.recurring_run_id})"}
    store = target.store
    execution = releases.begin(store, target.config.pipeline_name, record) if store is not None else None
    try:
        yield record
    except Exception as error:
        if execution is not None:
            releases.fail(store, execution, str(error))
        raise
    if execution is not None:
        for key in ("to_version", "run_id"):
            execution.custom_properties[key].string_value = record.get(key, "")
        releases.complete(store, execution, record["detail"])


def _said(args: argparse.Namespace, target: Target, console: Console, result: dict, sentence: str) -> int:
    result["recorded_in"] = target.store_url if target.store is not None else None
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    console.print(sentence, highlight=False, markup=False)
    console.print(f"recorded in {target.store_url}" if target.store is not None else
                  "not recorded in ML Metadata (give --store, or set kubeflow.metadata_store)",
                  highlight=False)
    return EXIT_OK


def command_list(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kubeflow.schedules import schedules

    target = _target(args)
    found = schedules(target.server, target.experiment_id)
    if args.json:
        print(json.dumps([item.as_dict() for item in found], indent=2))
        return EXIT_OK
    if not found:
        console.print(f"experiment {target.experiment!r} has no recurring run", highlight=False)
    for item in found:
        console.print(item.one_line(), highlight=False, markup=False)
    return EXIT_OK


def command_action(args: argparse.Namespace, console: Console) -> int:
    """pause, resume or trigger one recurring run."""
    from pipeline.kubeflow.schedules import find, set_running, trigger_now

    target = _target(args)
    schedule = find(target.server, target.experiment_id, target.experiment, args.name)
    result = {"action": args.schedule_command, **schedule.as_dict()}
    with _recorded(args, target, schedule) as record:
        if args.schedule_command == "trigger":
            result["run_id"] = record["run_id"] = trigger_now(target.server, target.experiment_id, schedule)
            sentence = f"started run {result['run_id']} of {schedule.one_line()}"
            record["detail"] = f"{record['detail']}: run {result['run_id']} of {schedule.version_ref}"
        else:
            running = args.schedule_command == "resume"
            result["changed"] = set_running(target.server, schedule, running)
            result["state"] = "running" if running else "paused"
            done = ("resumed" if running else "paused") if result["changed"] else "unchanged"
            sentence = f"{done}: {schedule.one_line(result['state'])}"
            record["detail"] = f"{record['detail']} {done}"
        record["to_version"] = schedule.version_ref
    return _said(args, target, console, result, sentence)


def command_update(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kubeflow.schedules import find, schedules, update

    given_package(args)
    target = _target(args)
    before = find(target.server, target.experiment_id, target.experiment, args.name)
    package = package_to_send(args, target.config, console)
    with _recorded(args, target, before) as record:
        done = update(target.server, target.experiment_id, before, package, target.config.pipeline_name,
                      args.force)
        found = schedules(target.server, target.experiment_id) if done.changed else []
        after = next((item for item in found if item.recurring_run_id == done.recurring_run_id), before)
        if not done.changed:
            sentence = f"unchanged: {before.one_line()} (the spec's version already)"
        elif done.in_place:
            sentence = f"updated in place: {after.one_line()}; was pipeline version {before.version}"
        else:
            sentence = (f"replaced: {after.one_line()}; was {before.recurring_run_id}, pinned to "
                        f"{before.version} (KFP cannot change a pinned recurring run; from now on "
                        "updates are in place)")
        record.update(to_version=after.version_ref, detail=(
            f"{before.name}: unchanged" if not done.changed else
            f"{before.name} ({after.recurring_run_id}): {before.version_ref} → {after.version_ref}"
            + ("" if done.in_place else f", replacing {before.recurring_run_id}")))
    result = {"action": "update", "changed": done.changed, "in_place": done.in_place,
              "before": before.as_dict(), "after": after.as_dict()}
    return _said(args, target, console, result, sentence)
