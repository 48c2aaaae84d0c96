"""Submits the compiled pipeline to a Kubeflow Pipelines 2.x server, and the client calls of both.

Everything goes through ``kfp.Client`` (the v2beta1 REST API). Uploads are
idempotent: the pipeline version is named by the spec's content hash, so
submitting an unchanged spec reuses its version. Creating, listing, pausing,
resuming, triggering and updating recurring runs is pipeline/kubeflow/schedules'.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# KFP's cron (robfig/cron): six fields, the first one seconds.
CRON_FIELDS = 6
EVERY_PATTERN = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# v2beta1 run states of a run that may still change (PAUSED: an Argo workflow suspended).
UNFINISHED = frozenset({"PENDING", "RUNNING", "CANCELING", "PAUSED"})


class SubmitError(Exception):
    """A problem talking to Kubeflow Pipelines, or a request that cannot be made."""


class RefusedRequest(SubmitError):
    """A request this project will not send as asked (exit code 2: nothing was changed)."""


class TriggerError(RefusedRequest):
    """A schedule's --cron or --every that KFP would not accept."""


@dataclass(frozen=True)
class Trigger:
    """When a recurring run fires: a KFP cron expression or a fixed interval."""

    cron: str | None = None
    interval_seconds: int | None = None

    @classmethod
    def parse(cls, cron: str | None, every: str | None) -> Trigger:
        if (cron is None) == (every is None):
            raise TriggerError("give exactly one of --cron and --every")
        if cron is not None:
            fields = cron.split()
            if len(fields) != CRON_FIELDS:
                hint = f" (KFP's cron starts with seconds: try '0 {cron}')" if len(fields) == 5 else ""
                raise TriggerError(f"--cron {cron!r} has {len(fields)} fields; KFP needs {CRON_FIELDS}{hint}")
            return cls(cron=" ".join(fields))
        match = EVERY_PATTERN.match(every.strip())
        if not match or int(match.group(1)) == 0:
            raise TriggerError(f"--every {every!r}: use a positive number with s, m, h or d, e.g. 6h or 1d")
        return cls(interval_seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


@dataclass
class Plan:
    """The requests a submit or schedule makes, for --dry-run and for the record."""

    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, call: str, **arguments: Any) -> None:
        self.steps.append({"call": call, **arguments})


def spec_digest(package: Path) -> str:
    return hashlib.sha256(package.read_bytes()).hexdigest()[:12]


def version_name(pipeline_name: str, package: Path) -> str:
    """A pipeline version per distinct spec: re-uploading the same spec reuses it."""
    return f"{pipeline_name}-{spec_digest(package)}"


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


class KubeflowPipelines:
    """The few kfp.Client calls this project makes, with clear errors."""

    def __init__(self, host: str, token: str | None = None, namespace: str | None = None):
        import kfp

        self.host = host
        self.namespace = namespace
        try:
            self.client = kfp.Client(host=host, existing_token=token, namespace=namespace or "kubeflow")
        except Exception as error:  # the client wraps connection failures in many types
            raise SubmitError(f"cannot reach Kubeflow Pipelines at {host}: {_reason(error)}") from None

    def pipeline_version(self, package: Path, pipeline_name: str) -> tuple[str, str]:
        """(pipeline id, version id) of this spec, uploading what the server does not have yet."""
        name = version_name(pipeline_name, package)
        pipeline_id = self.find_pipeline(pipeline_name) or self.upload_pipeline(pipeline_name, package)
        return pipeline_id, self.version_named(pipeline_id, name) or self.upload_version(package, pipeline_id,
                                                                                         name)

    def find_pipeline(self, pipeline_name: str) -> str | None:
        return self._call("find the pipeline", self.client.get_pipeline_id, pipeline_name)

    def upload_pipeline(self, pipeline_name: str, package: Path) -> str:
        """A new pipeline's id; KFP makes the package its first version, named like the pipeline."""
        pipeline = self._call("upload the pipeline", self.client.upload_pipeline, str(package),
                              pipeline_name=pipeline_name, description=f"{pipeline_name} (TFX)")
        return pipeline.pipeline_id

    def version_named(self, pipeline_id: str, name: str) -> str | None:
        versions = self._call("list the pipeline's versions", self.client.list_pipeline_versions,
                              pipeline_id, filter=_name_filter(name)).pipeline_versions or []
        return versions[0].pipeline_version_id if versions else None

    def upload_version(self, package: Path, pipeline_id: str, name: str) -> str:
        version = self._call("upload the pipeline version", self.client.upload_pipeline_version,
                             str(package), name, pipeline_id=pipeline_id)
        return version.pipeline_version_id

    def delete_version(self, pipeline_id: str, version_id: str) -> None:
        self._call("delete the pipeline version", self.client.delete_pipeline_version, pipeline_id,
                   version_id)

    def newest_version(self, pipeline_id: str) -> tuple[str, str] | None:
        """(version id, display name) of the version KFP runs for "the latest": the newest created."""
        response = self._call("list the pipeline's versions", self.client.list_pipeline_versions,
                              pipeline_id, sort_by="created_at desc", page_size=1)
        versions = response.pipeline_versions or []
        return (versions[0].pipeline_version_id, versions[0].display_name) if versions else None

    def experiment(self, name: str) -> str:
        import kfp_server_api

        try:
            return self.client.get_experiment(experiment_name=name, namespace=self.namespace).experiment_id
        except ValueError:  # kfp raises ValueError for "no experiment with this name"
            pass
        except kfp_server_api.ApiException as error:
            raise SubmitError(f"{self.host}: could not look up experiment {name!r}: "
                              f"{_reason(error)}") from None
        return self._call("create the experiment", self.client.create_experiment, name,
                          namespace=self.namespace).experiment_id

    def run(self, experiment_id: str, run_name: str, pipeline_id: str, version_id: str,
            pipeline_root: str) -> str:
        run = self._call("start the run", self.client.run_pipeline, experiment_id, run_name,
                         pipeline_id=pipeline_id, version_id=version_id, pipeline_root=pipeline_root)
        return run.run_id

    def recurring_runs_named(self, experiment_id: str, name: str) -> list[str]:
        response = self._call("list recurring runs", self.client.list_recurring_runs,
                              experiment_id=experiment_id, filter=_name_filter(name))
        return [item.recurring_run_id for item in response.recurring_runs or []]

    def delete_recurring_run(self, recurring_run_id: str) -> None:
        self._call("delete the old recurring run", self.client.delete_recurring_run, recurring_run_id)

    def schedule(self, experiment_id: str, name: str, trigger: Trigger, pipeline_id: str,
                 version_id: str | None, pipeline_root: str, enabled: bool = True) -> str:
        """Creates a recurring run; with no version id it runs the pipeline's newest version each time.

        kfp 2.5's create_recurring_run insists on a version id, which KFP servers
        from 2.5.0 on no longer need (kubeflow/pipelines#11560), so the request is
        made through the client's own recurring-run API object.
        """
        import kfp_server_api as api

        when = (api.V2beta1Trigger(cron_schedule=api.V2beta1CronSchedule(cron=trigger.cron)) if trigger.cron
                else api.V2beta1Trigger(periodic_schedule=api.V2beta1PeriodicSchedule(
                    interval_second=trigger.interval_seconds)))
        body = api.V2beta1RecurringRun(
            experiment_id=experiment_id, display_name=name, trigger=when,
            mode=api.RecurringRunMode.ENABLE if enabled else api.RecurringRunMode.DISABLE,
            # One run at a time, and no burst of missed runs after a pause.
            max_concurrency=1, no_catchup=True,
            pipeline_version_reference=api.V2beta1PipelineVersionReference(pipeline_id=pipeline_id,
                                                                            pipeline_version_id=version_id),
            runtime_config=api.V2beta1RuntimeConfig(pipeline_root=pipeline_root))
        create = self.client._recurring_run_api.create_recurring_run
        recurring = self._call("create the recurring run", create, body=body)
        return recurring.recurring_run_id

    def recurring_runs(self, experiment_id: str) -> list:
        """Every recurring run of the experiment (kfp_server_api objects), all pages."""
        return self._all_pages("list recurring runs", self.client.list_recurring_runs, "recurring_runs",
                               experiment_id=experiment_id)

    def runs_in_progress(self, experiment_id: str, recurring_run_id: str) -> list[str]:
        """The ids of the recurring run's runs that have not finished, all pages."""
        runs = self._all_pages("list runs", self.client.list_runs, "runs", experiment_id=experiment_id)
        return [run.run_id for run in runs
                if run.recurring_run_id == recurring_run_id and run.state in UNFINISHED]

    def _all_pages(self, what: str, method, field: str, **filters) -> list:
        found, token = [], ""
        while True:
            response = self._call(what, method, page_token=token, page_size=100, **filters)
            found += getattr(response, field) or []
            token = response.next_page_token
            if not token:
                return found

    def version_name(self, pipeline_id: str, version_id: str) -> str:
        version = self._call("look up the pipeline version", self.client.get_pipeline_version,
                             pipeline_id, version_id)
        return version.display_name

    def set_enabled(self, recurring_run_id: str, enabled: bool) -> None:
        method = self.client.enable_recurring_run if enabled else self.client.disable_recurring_run
        self._call("resume the recurring run" if enabled else "pause the recurring run", method,
                   recurring_run_id)

    def _call(self, what: str, method, *args, **kwargs):
        # kfp.Client prints "Run details: <link>" lines; on stderr they never break --json.
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return method(*args, **kwargs)
        except Exception as error:  # ApiException, urllib3 errors: all reported the same way
            raise SubmitError(f"{self.host}: could not {what}: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    status = getattr(error, "status", None)
    body = getattr(error, "body", None)
    if status:
        return f"HTTP {status} {getattr(error, 'reason', '')}: {str(body or '')[:300]}".strip()
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


def submit(kfp: KubeflowPipelines | None, package: Path, pipeline_name: str, experiment: str,
           pipeline_root: str, run_name: str | None = None) -> Plan:
    """One run now. With kfp None, only plans (a dry run)."""
    plan = Plan()
    version = version_name(pipeline_name, package)
    run_name = run_name or f"{pipeline_name} {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
    plan.add("upload pipeline version (or reuse it)", pipeline=pipeline_name, version=version,
             package=str(package))
    plan.add("get or create experiment", experiment=experiment)
    plan.add("create run", run_name=run_name, pipeline_root=pipeline_root)
    if kfp is None:
        return plan
    pipeline_id, version_id = kfp.pipeline_version(package, pipeline_name)
    experiment_id = kfp.experiment(experiment)
    run_id = kfp.run(experiment_id, run_name, pipeline_id, version_id, pipeline_root)
    plan.steps[-1]["run_id"] = run_id
    return plan

