"""Recurring runs on Kubeflow Pipelines: list, pause, resume, trigger and update, by name.

Every answer names the pipeline version the recurring run runs (the version's
display name is this project's `<pipeline>-<spec hash>`). KFP's v2beta1 API
has no call that changes a recurring run: `update` therefore creates its
replacement with the same name, trigger, concurrency, catch-up and pipeline
root, paused, deletes the old one, and then resumes the new one if the old one
was running, so that two never fire and one remains. The replacement has a
new id. A recurring run is found by name within the experiment; a name that
matches several (a killed `update` between its create and its delete) is
refused with their ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipeline.kubeflow.submit import KubeflowPipelines, RefusedRequest, Trigger, version_name

ENABLED = "ENABLED"
LATEST = "latest (none pinned)"


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

    @property
    def trigger(self) -> Trigger:
        return Trigger(cron=self.cron, interval_seconds=self.interval_seconds)

    @property
    def when(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.interval_seconds} s"

    @property
    def version(self) -> str:
        return f"{self.version_name} ({self.version_id})" if self.version_id else LATEST

    @property
    def state(self) -> str:
        return "running" if self.enabled else "paused"

    def one_line(self, state: str | None = None) -> str:
        return (f"{self.name} ({self.recurring_run_id}): {state or self.state}, {self.when}, "
                f"pipeline version {self.version}")

    def as_dict(self) -> dict:
        return {**asdict(self), "version": self.version, "state": self.state}


def schedules(kfp: KubeflowPipelines, experiment_id: str) -> list[Schedule]:
    names: dict[tuple[str, str], str | None] = {}
    return [_schedule(kfp, raw, names) for raw in kfp.recurring_runs(experiment_id)]


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
    """One run now, of the schedule's pipeline version and root; its run id."""
    if schedule.version_id is None:
        raise RefusedRequest(f"recurring run {schedule.name!r} pins no pipeline version; start a run with "
                             "`submit` instead")
    name = f"{schedule.name} (triggered {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
    return kfp.run(experiment_id, name, schedule.pipeline_id, schedule.version_id, schedule.pipeline_root)


def update(kfp: KubeflowPipelines, experiment_id: str, schedule: Schedule, package: Path,
           pipeline_name: str, force: bool = False) -> str | None:
    """Points the schedule at the spec's version (uploaded if new); the new id, None when unchanged.

    Deleting a recurring run deletes its ScheduledWorkflow, and Kubernetes'
    garbage collection then deletes the workflows it owns, a run in progress
    among them (kubeflow/pipelines#7421): refused unless forced.
    """
    if schedule.version_name == version_name(pipeline_name, package):
        return None  # decided before any upload: an unchanged spec sends nothing
    in_progress = kfp.runs_in_progress(experiment_id, schedule.recurring_run_id)
    if in_progress and not force:
        raise RefusedRequest(f"recurring run {schedule.name!r} has {len(in_progress)} run(s) in progress "
                             f"({', '.join(in_progress)}); replacing it would stop them. Update when they "
                             "finish, or pass --force")
    pipeline_id, version_id = kfp.pipeline_version(package, pipeline_name)
    new_id = kfp.schedule(experiment_id, schedule.name, schedule.trigger, pipeline_id, version_id,
                          schedule.pipeline_root, enabled=False)
    kfp.delete_recurring_run(schedule.recurring_run_id)
    if schedule.enabled:
        kfp.set_enabled(new_id, True)
    return new_id


def _schedule(kfp: KubeflowPipelines, raw, names: dict[tuple[str, str], str | None]) -> Schedule:
    reference = raw.pipeline_version_reference
    pipeline_id = getattr(reference, "pipeline_id", None) or None
    version_id = getattr(reference, "pipeline_version_id", None) or None
    if pipeline_id and version_id and (pipeline_id, version_id) not in names:
        names[(pipeline_id, version_id)] = kfp.version_name(pipeline_id, version_id)
    trigger = raw.trigger
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", None)
    interval = getattr(getattr(trigger, "periodic_schedule", None), "interval_second", None)
    root = getattr(raw.runtime_config, "pipeline_root", None) if raw.runtime_config else None
    return Schedule(raw.recurring_run_id, raw.display_name, raw.status == ENABLED, cron,
                    int(interval) if interval else None, pipeline_id, version_id,
                    names.get((pipeline_id, version_id)), root,
                    raw.created_at.isoformat() if raw.created_at else None)
