"""The one reader of a run's outcome from ML Metadata: what ran, what was decided, what was pushed.

The terminal summary, `why`, `models`, `lineage runs` and the run report all read a run through
`read_outcome`, so they cannot disagree about whether a run was blessed or what it pushed.
Artifacts are attributed to the component that produced them in this run (never by matching their
URI), which keeps the Resolver nodes' outputs (an older blessing, the previous statistics) out.

Runs of plain TFX pipelines have no Verdict of ours: their decision is the
stock Evaluator's ModelBlessing, with TFMA's metrics and threshold checks
from its ModelEvaluation (pipeline.metadata.tfma_results), in the same shape.

Imports ml_metadata and protobuf only; never TensorFlow or TFX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ml_metadata.proto import metadata_store_pb2

from components.artifact_types import EVALUATION_VERDICT, VALIDATION_REPORT
from components.validation_gate.anomalies import AnomalyRow, read_local_anomalies, read_report_rows
from components.verdict.verdict import Verdict, read_verdict
from components.versioned_pusher.properties import (
    NOT_PUSHED_REASON,
    PUSHED,
    PUSHED_DESTINATION,
    PUSHED_VERSION,
)
from pipeline.metadata import releases, run_facts
from pipeline.metadata import store as mlmd
from pipeline.metadata.tfma_results import Evaluation, EvaluationUnreadable, read_evaluation

RESOLVER_SUFFIX = "_resolver"
VALIDATOR, GATE, VERDICT, PUSHER = "ExampleValidator", "ValidationGate", "Verdict", "Pusher"
EVALUATOR = "Evaluator"  # who decided, in a verdict read from a stock Evaluator


@dataclass
class RunOutcome:
    """What one pipeline run did and decided.

    What MLMD holds is read at once; what lives in artifact files (anomalies,
    the gate's findings, the verdict) on first use, so that listing many runs
    or models reads no file it does not show.
    """

    run: metadata_store_pb2.Context
    components: list[mlmd.ComponentExecution]
    # Artifacts by the component of this run that output them.
    outputs: dict[str, list[metadata_store_pb2.Artifact]] = field(default_factory=dict)
    pushed_path: str | None = None
    pushed_version: str | None = None
    # Why a blessed model was not pushed ("pinned at V by USER: REASON"), from the Pusher.
    not_pushed_reason: str | None = None
    # "USER: REASON" when the model was pushed by hand (`models bless`), not by the Pusher.
    blessed_by_hand: str | None = None
    stop_reason: str | None = None
    # The release actions that name this run (releases.actions_of_run), newest first.
    release_actions: list = field(default_factory=list)

    @property
    def pushed_text(self) -> str:
        """What was pushed, in words: the version, or why nothing went out when the Pusher said so."""
        if self.pushed_path:
            by_hand = f", by a manual bless ({self.blessed_by_hand})" if self.blessed_by_hand else ""
            return f"version {self.pushed_version} ({self.pushed_path}){by_hand}"
        return f"nothing; not pushed: {self.not_pushed_reason}" if self.not_pushed_reason else "nothing"

    def push_facts(self) -> dict:
        """The push (its version, or why a blessed model was not pushed) and release actions, for --json."""
        return {PUSHED_VERSION: self.pushed_version, "not_pushed": self.not_pushed_reason,
                "blessed_by_hand": self.blessed_by_hand,
                "release_actions": [record.as_dict() for record in self.release_actions]}

    @cached_property
    def anomalies(self) -> list[AnomalyRow]:
        """ExampleValidator's."""
        return [row for _, artifact in self.produced_by_any("ExampleAnomalies")
                for row in read_local_anomalies(artifact.uri)]

    @cached_property
    def gate_findings(self) -> list[AnomalyRow]:
        """The gate's report: ExampleValidator's anomalies and its drift findings."""
        return [row for artifact in self.produced(GATE, VALIDATION_REPORT)
                for row in read_report_rows(artifact.uri)]

    @cached_property
    def verdict(self) -> dict | None:
        """The Verdict's file; without one, the stock Evaluator's decision in the same shape."""
        verdicts = [read_verdict(artifact.uri) for artifact in self.produced(VERDICT, EVALUATION_VERDICT)]
        if verdicts:
            return {**verdicts[-1], "decided_by": VERDICT}
        return self._evaluator_verdict()

    @cached_property
    def blessed(self) -> bool | None:
        """The blessing as recorded in MLMD (the Verdict's, else the Evaluator's); else the verdict's."""
        blessings = self.produced(VERDICT, "ModelBlessing") or self._evaluator_outputs("ModelBlessing")
        if blessings:
            return bool(mlmd.custom_value(blessings[0], "blessed"))
        return None if self.verdict is None else bool(self.verdict["blessed"])

    @cached_property
    def evaluation(self) -> Evaluation | None:
        """TFMA's metrics and checks from the run's ModelEvaluation, when it has one that can be read."""
        for artifact in self._evaluator_outputs("ModelEvaluation"):
            try:
                return read_evaluation(artifact.uri)
            except (OSError, EvaluationUnreadable, ValueError):
                return None
        return None

    @property
    def missing_verdict(self) -> str | None:
        """Why the run has no decision, in words (None when it has one)."""
        if self.verdict is not None:
            return None
        stopped = self.unfinished_components()
        if stopped:
            return f"it stopped at {', '.join(stopped)} ({self.status})"
        if self._evaluator_outputs("ModelEvaluation"):
            return "the Evaluator recorded no blessing"
        if any(item.component in (VERDICT, EVALUATOR) for item in self.components):
            return "it did not reach the Verdict"
        return "the run has no Evaluator, so nothing decided on its model"

    @property
    def missing_verdict_brief(self) -> str | None:
        """missing_verdict in two words, for a table cell."""
        reason = self.missing_verdict
        if reason is None:
            return None
        if reason.startswith("it stopped"):
            return "stopped"
        if "no Evaluator" in reason:
            return "no Evaluator"
        return "not reached" if "reach" in reason else "no blessing"

    def _evaluator_verdict(self) -> dict | None:
        blessings = self._evaluator_outputs("ModelBlessing")
        evaluation = self.evaluation
        if not blessings and evaluation is None:
            return None
        if blessings:
            blessed = bool(mlmd.custom_value(blessings[0], "blessed"))
        else:
            blessed = bool(evaluation.validation_ok)
        evaluation = evaluation or Evaluation()
        checks = sorted(evaluation.checks, key=lambda c: (c.passed, c.slice != "Overall", c.slice, c.metric))
        verdict = Verdict(blessed=blessed, tfma_blessed=blessed,
                          has_baseline=bool(evaluation.baseline_slices),
                          checks=checks, slices=evaluation.slices, baseline_slices=evaluation.baseline_slices)
        return {**verdict.as_dict(), "decided_by": EVALUATOR}

    def _evaluator_outputs(self, type_name: str) -> list[metadata_store_pb2.Artifact]:
        """Artifacts of a type that the run's evaluating component (what output a ModelEvaluation) made."""
        for component, artifacts in self.outputs.items():
            if component in self.resolvers or component == VERDICT:
                continue
            if mlmd.artifacts_of_type(artifacts, "ModelEvaluation"):
                return mlmd.artifacts_of_type(artifacts, type_name)
        return []

    def produced_by_any(self, type_name: str) -> list[tuple[str, metadata_store_pb2.Artifact]]:
        """(component, artifact) of a type made by any component of this run, resolvers left out."""
        return [(component, artifact) for component, artifacts in self.outputs.items()
                if component not in self.resolvers
                for artifact in mlmd.artifacts_of_type(artifacts, type_name)]

    @cached_property
    def resolvers(self) -> set[str]:
        """Components that only look up artifacts of earlier runs (TFX's Resolver nodes, ours by name)."""
        return {item.component for item in self.components
                if item.component.endswith(RESOLVER_SUFFIX) or item.execution.type.endswith("Resolver")}

    @property
    def run_id(self) -> str:
        return self.run.name

    @property
    def states(self) -> dict[str, str]:
        return {item.component: item.state for item in self.components}

    @property
    def pruned(self) -> int:
        """How many of the run's artifacts `prune` removed from disk (their records stay)."""
        return sum(artifact.state == metadata_store_pb2.Artifact.DELETED
                   for component, artifacts in self.outputs.items() if not component.endswith(RESOLVER_SUFFIX)
                   for artifact in artifacts)  # a Resolver's outputs are earlier runs' artifacts

    def failed_components(self) -> list[str]:
        return [item.component for item in self.components if item.state == "FAILED"]

    def unfinished_components(self) -> list[str]:
        """Where the run stopped: components that failed, were canceled, or were left running (killed)."""
        return [item.component for item in self.components if item.state in ("FAILED", "CANCELED", "RUNNING")]

    @property
    def interrupted_by(self) -> str | None:
        """SIGTERM or SIGINT when a signal stopped the run."""
        reason = self.stop_reason or ""
        return reason.removeprefix(run_facts.INTERRUPTED_PREFIX) \
            if reason.startswith(run_facts.INTERRUPTED_PREFIX) else None

    @property
    def status(self) -> str:
        failed = self.failed_components()
        stopped = [item.component for item in self.components if item.state == "CANCELED"]
        if self.interrupted_by:
            where = ", ".join(failed + stopped)
            return f"stopped by {self.interrupted_by}" + (f" at {where}" if where else "")
        if failed:
            return f"failed at {', '.join(failed)}"
        if stopped:
            return f"stopped at {', '.join(stopped)}"
        if any(state == "RUNNING" for state in self.states.values()):
            return "running or killed"
        cached = sum(state == "CACHED" for state in self.states.values())
        return f"complete ({cached} cached)" if cached else "complete"

    @property
    def started_ms(self) -> int:
        return min((item.execution.create_time_since_epoch for item in self.components),
                   default=self.run.create_time_since_epoch)

    @property
    def seconds(self) -> float:
        end = max((item.execution.last_update_time_since_epoch for item in self.components),
                  default=self.started_ms)
        return (end - self.started_ms) / 1000

    def produced(self, component: str, type_name: str) -> list[metadata_store_pb2.Artifact]:
        return mlmd.artifacts_of_type(self.outputs.get(component, []), type_name)


def read_outcome(store, run: metadata_store_pb2.Context) -> RunOutcome:
    """Reads one run's components, push and stop reason (findings and verdict on first use)."""
    components = mlmd.component_executions(store, run)
    outcome = RunOutcome(run=run, components=components, outputs=_outputs_by_component(store, components),
                         stop_reason=run_facts.stop_reason(run))
    for artifact in outcome.produced(PUSHER, "PushedModel"):
        if mlmd.custom_value(artifact, PUSHED):
            outcome.pushed_path = mlmd.custom_value(artifact, PUSHED_DESTINATION)
            version = mlmd.custom_value(artifact, PUSHED_VERSION)
            outcome.pushed_version = None if version is None else str(version)
        elif mlmd.custom_value(artifact, NOT_PUSHED_REASON):
            outcome.not_pushed_reason = mlmd.custom_value(artifact, NOT_PUSHED_REASON)
    outcome.release_actions = releases.actions_of_run(store, run.name)
    bless = releases.completed_bless(outcome.release_actions)
    if outcome.pushed_path is None and bless is not None:  # pushed by `models bless`, not by the Pusher
        outcome.pushed_path = f"{bless.serving_dir}/{bless.new_version}"
        outcome.pushed_version, outcome.blessed_by_hand = bless.new_version, f"{bless.user}: {bless.reason}"
        outcome.not_pushed_reason = None
    return outcome


def _outputs_by_component(store, components: list[mlmd.ComponentExecution]) -> dict[str, list]:
    names = {item.execution.id: item.component for item in components}
    events = [event for event in store.get_events_by_execution_ids(list(names))
              if event.type in mlmd.OUTPUT_EVENTS]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))} \
        if events else {}
    outputs: dict[str, list] = {}
    for event in sorted(events, key=lambda e: e.artifact_id):
        if event.artifact_id in artifacts:
            outputs.setdefault(names[event.execution_id], []).append(artifacts[event.artifact_id])
    return outputs


def find_run(store, run: str | None, pipeline_name: str | None = None) -> metadata_store_pb2.Context:
    """A pipeline run by id, unique id prefix, or the newest one when run is None or 'latest'."""
    runs = mlmd.pipeline_runs(store, pipeline_name)
    if not runs:
        raise mlmd.StoreNotFound("the metadata store holds no pipeline run yet")
    if run in (None, "latest"):
        return runs[0]
    matches = [context for context in runs if context.name == run]
    matches = matches or [context for context in runs if context.name.startswith(run)]
    if not matches:
        known = ", ".join(context.name for context in runs[:5])
        raise mlmd.StoreNotFound(f"no run matches {run!r}; the newest runs are {known}")
    if len(matches) > 1:
        shown = ", ".join(context.name for context in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise mlmd.StoreNotFound(f"{len(matches)} runs match {run!r}: {shown}{more}; give more of the id")
    return matches[0]


def read_run(store, run_id: str) -> RunOutcome | None:
    """The outcome of the run with exactly this id, or None when TFX never registered it."""
    run = mlmd.run_context(store, run_id)
    return None if run is None else read_outcome(store, run)


def recent_outcomes(store, pipeline_name: str | None = None, limit: int | None = None) -> list[RunOutcome]:
    """Outcomes of the pipeline's runs, newest first."""
    return [read_outcome(store, run) for run in mlmd.pipeline_runs(store, pipeline_name)[:limit]]

