"""Recurring runs on Kubeflow Pipelines: create, list, pause, resume, trigger and update, by name.

A recurring run this project creates belongs to a pipeline of its own,
`<pipeline>-schedule-<name>`, and names no version: KFP servers from 2.5.0 on
then run that pipeline's newest version at each trigger (kubeflow/pipelines#11560).
`update` therefore changes what a recurring run fires in place, by uploading
the spec as the newest version of its pipeline: same recurring run, same id,
nothing deleted, a run in progress left alone. A version is named
`<pipeline>-<spec hash>` (`-2`, `-3`, ... when an older spec comes back), so
every answer names the spec a recurring run fires. A recurring run pinned to a
version (one made before, or by hand) cannot be changed in place, since KFP's API
has no update call (kubeflow/pipelines#3789): `update` replaces it once, paused
first, by one that follows its pipeline's newest version. A recurring run is
found by name within the experiment; a name that matches several (a killed
replacement between its create and its delete) is refused with their ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.kubeflow.submit import (
    KubeflowPipelines,
    Plan,
    RefusedRequest,
    SubmitError,
    Trigger,
    version_name,
)

ENABLED = "ENABLED"
EMBEDDED = "its own embedded spec (no pipeline version)"
# <pipeline>-<12 hex digits of the spec's hash>, with -N when the same spec is uploaded again.
VERSION_PATTERN = re.compile(r"^(?P<spec>.+-[0-9a-f]{12})(?:-(?P<again>\d+))?$")


@dataclass(frozen=True)
class Schedule:
    recurring_run_id: str
    name: str
    enabled: bool
    cron: str | None
    interval_seconds: int | None
    pipeline_id: str | None
    version_id: str | None
    version_name: str | None  # the version's display name: <pipeline>-<spec hash> when this project made it
    pipeline_root: str | None
    created_at: str | None
    follows_newest: bool = False  # names no version: KFP runs its pipeline's newest one

    @property
    def trigger(self) -> Trigger:
        return Trigger(cron=self.cron, interval_seconds=self.interval_seconds)

    @property
    def when(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.interval_seconds} s"

    @property
    def version_ref(self) -> str:
        """The version it fires, by name and id (what a release record names)."""
        return f"{self.version_name} ({self.version_id})" if self.version_id else EMBEDDED

    @property
    def version(self) -> str:
        """The version it fires, and how it chose it."""
        if not self.version_id:
            return EMBEDDED
        how = "its pipeline's newest" if self.follows_newest else "pinned"
        return f"{self.version_ref}, {how}"

    @property
    def state(self) -> str:
        return "running" if self.enabled else "paused"

    def one_line(self, state: str | None = None) -> str:
        return (f"{self.name} ({self.recurring_run_id}): {state or self.state}, {self.when}, "
                f"pipeline version {self.version}")

    def as_dict(self) -> dict:
        return {**asdict(self), "version": self.version, "version_ref": self.version_ref, "state": self.state}


def schedules(kfp: KubeflowPipelines, experiment_id: str) -> list[Schedule]:
    cache: dict[tuple[str, str], tuple] = {}
    return [_schedule(kfp, raw, cache) for raw in kfp.recurring_runs(experiment_id)]


def find(kfp: KubeflowPipelines, experiment_id: str, experiment: str, name: str) -> Schedule:
    every = schedules(kfp, experiment_id)
    matches = [item for item in every if item.name == name]
    if not matches:
        known = ", ".join(sorted(item.name for item in every)) or "none"
        raise RefusedRequest(f"experiment {experiment!r} has no recurring run named {name!r} "
                             f"(it has: {known})")
    if len(matches) > 1:
        ids = ", ".join(item.recurring_run_id for item in matches)
        raise RefusedRequest(f"experiment {experiment!r} has {len(matches)} recurring runs named {name!r} "
                             f"({ids}); delete all but one in the KFP UI")
    return matches[0]


def set_running(kfp: KubeflowPipelines, schedule: Schedule, running: bool) -> bool:
    """Pauses or resumes; False when it already was so (nothing sent)."""
    if schedule.enabled == running:
        return False
    kfp.set_enabled(schedule.recurring_run_id, running)
    return True


def trigger_now(kfp: KubeflowPipelines, experiment_id: str, schedule: Schedule) -> str:
    """One run now, of the version the schedule would fire and its root; the run's id."""
    if schedule.version_id is None:
        raise RefusedRequest(f"recurring run {schedule.name!r} names no pipeline version to run; start a run "
                             "with `submit` instead")
    name = f"{schedule.name} (triggered {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
    return kfp.run(experiment_id, name, schedule.pipeline_id, schedule.version_id, schedule.pipeline_root)


def schedule_pipeline_name(pipeline_name: str, name: str) -> str:
    """The pipeline a recurring run follows: its own, so that `submit` never changes what it fires."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "schedule"
    if slug != name:  # "Nightly" and "nightly" stay apart
        slug = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    return f"{pipeline_name}-schedule-{slug}"


def create(kfp: KubeflowPipelines | None, package: Path, pipeline_name: str, experiment: str,
           pipeline_root: str, name: str, trigger: Trigger, replace: bool = False) -> Plan:
    """A recurring run that fires its own pipeline's newest version. With kfp None, only plans."""
    plan = Plan()
    own = schedule_pipeline_name(pipeline_name, name)
    plan.add("upload the spec as the newest version of the schedule's pipeline (or reuse it)", pipeline=own,
             version=version_name(pipeline_name, package), package=str(package))
    plan.add("get or create experiment", experiment=experiment)
    plan.add("find recurring runs with this name", name=name,
             then="delete them, then create" if replace else "fail if there is one")
    plan.add("create recurring run", name=name, cron=trigger.cron, interval_seconds=trigger.interval_seconds,
             max_concurrency=1, no_catchup=True, pipeline_root=pipeline_root,
             runs="the pipeline's newest version at each trigger")
    if kfp is None:
        return plan
    experiment_id = kfp.experiment(experiment)
    existing = kfp.recurring_runs_named(experiment_id, name)
    if existing and not replace:
        raise SubmitError(f"experiment {experiment!r} already has a recurring run named {name!r} "
                          f"(id {', '.join(existing)}); pass --replace to replace it, "
                          "`schedule update` to change what it runs, or choose another --name")
    pipeline_id = _own_pipeline(kfp, package, pipeline_name, own)
    for recurring_run_id in existing:
        kfp.delete_recurring_run(recurring_run_id)
    plan.steps[-1]["recurring_run_id"] = kfp.schedule(experiment_id, name, trigger, pipeline_id, None,
                                                      pipeline_root)
    return plan


def _own_pipeline(kfp: KubeflowPipelines, package: Path, pipeline_name: str, own: str) -> str:
    """The id of the schedule's own pipeline `own`, created if new, with the spec as its newest version."""
    pipeline_id = kfp.find_pipeline(own)
    if pipeline_id is not None:
        publish_newest(kfp, package, pipeline_name, pipeline_id)
        return pipeline_id
    pipeline_id = kfp.upload_pipeline(own, package)
    # The upload's own first version is named like the pipeline and made in the same second as
    # ours (KFP orders versions by created_at, in seconds): deleted, so ours is the newest.
    (first_id, _) = kfp.newest_version(pipeline_id) or (None, None)
    publish_newest(kfp, package, pipeline_name, pipeline_id, drop=first_id)
    return pipeline_id


def publish_newest(kfp: KubeflowPipelines, package: Path, pipeline_name: str, pipeline_id: str,
                   drop: str | None = None) -> None:
    """Makes the spec the pipeline's newest version, uploading it unless it is already.

    `drop`: a version to delete once the spec's is uploaded (a new pipeline's first).
    """
    wanted = version_name(pipeline_name, package)
    newest = kfp.newest_version(pipeline_id)
    if newest is not None and spec_of(newest[1]) == wanted:
        return
    name, again = wanted, 1
    while kfp.version_named(pipeline_id, name) is not None:  # an older spec back: a new, newer version
        again += 1
        name = f"{wanted}-{again}"
    version_id = kfp.upload_version(package, pipeline_id, name)
    if drop is not None:
        kfp.delete_version(pipeline_id, drop)
    if (kfp.newest_version(pipeline_id) or ("",))[0] != version_id:
        raise SubmitError(f"uploaded {name} ({version_id}), but the server does not list it as the newest "
                          f"version of pipeline {pipeline_id} (two uploads in the same second?); run the "
                          "update again")


def spec_of(display_name: str | None) -> str | None:
    """The `<pipeline>-<spec hash>` a version's display name stands for (None: not one of ours)."""
    match = VERSION_PATTERN.match(display_name or "")
    return match.group("spec") if match else None


@dataclass(frozen=True)
class Updated:
    recurring_run_id: str
    changed: bool
    in_place: bool


def update(kfp: KubeflowPipelines, experiment_id: str, schedule: Schedule, package: Path,
           pipeline_name: str, force: bool = False) -> Updated:
    """Makes the schedule fire the spec (uploaded if new): in place when it follows its pipeline's newest."""
    if spec_of(schedule.version_name) == version_name(pipeline_name, package):
        return Updated(schedule.recurring_run_id, changed=False, in_place=True)  # nothing sent
    if schedule.follows_newest:
        publish_newest(kfp, package, pipeline_name, schedule.pipeline_id)
        return Updated(schedule.recurring_run_id, changed=True, in_place=True)
    return Updated(_replace(kfp, experiment_id, schedule, package, pipeline_name, force), True, False)


def _replace(kfp: KubeflowPipelines, experiment_id: str, schedule: Schedule, package: Path,
             pipeline_name: str, force: bool) -> str:
    """A pinned recurring run, replaced once by one that follows its own pipeline's newest version.

    Deleting a recurring run deletes its ScheduledWorkflow, and Kubernetes'
    garbage collection then deletes the workflows it owns, a run in progress
    among them (kubeflow/pipelines#7421): refused unless forced.
    """
    in_progress = kfp.runs_in_progress(experiment_id, schedule.recurring_run_id)
    if in_progress and not force:
        raise RefusedRequest(f"recurring run {schedule.name!r} pins a version and has {len(in_progress)} "
                             f"run(s) in progress ({', '.join(in_progress)}); replacing it would stop them. "
                             "Update when they finish, or pass --force")
    pipeline_id = _own_pipeline(kfp, package, pipeline_name,
                                schedule_pipeline_name(pipeline_name, schedule.name))
    new_id = kfp.schedule(experiment_id, schedule.name, schedule.trigger, pipeline_id, None,
                          schedule.pipeline_root, enabled=False)
    kfp.delete_recurring_run(schedule.recurring_run_id)
    if schedule.enabled:
        kfp.set_enabled(new_id, True)
    return new_id


def _schedule(kfp: KubeflowPipelines, raw, cache: dict[tuple[str, str], tuple]) -> Schedule:
    reference = raw.pipeline_version_reference
    pipeline_id = getattr(reference, "pipeline_id", None) or None
    version_id = getattr(reference, "pipeline_version_id", None) or None
    follows_newest = bool(pipeline_id and not version_id)
    display = None
    if follows_newest:  # what the next trigger fires: one listing per pipeline
        if (pipeline_id, "newest") not in cache:
            cache[(pipeline_id, "newest")] = kfp.newest_version(pipeline_id) or (None, None)
        version_id, display = cache[(pipeline_id, "newest")]
    elif pipeline_id and version_id:
        if (pipeline_id, version_id) not in cache:
            cache[(pipeline_id, version_id)] = (kfp.version_name(pipeline_id, version_id),)
        (display,) = cache[(pipeline_id, version_id)]
    trigger = raw.trigger
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None)
    interval = getattr(getattr(trigger, "periodic_schedule", None), "interval_second", None)
    root = getattr(raw.runtime_config, "pipeline_root", None) if raw.runtime_config else None
    return Schedule(raw.recurring_run_id, raw.display_name, raw.status == ENABLED, cron,
                    int(interval) if interval else None, pipeline_id, version_id, display, root,
                    raw.created_at.isoformat() if raw.created_at else None, follows_newest)
