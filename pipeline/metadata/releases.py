"""Release actions recorded in ML Metadata: who changed what is served, when, why, and to what.

Each action (a rollback, a pin, an unpin, a bless, a prune) is an execution of type
RELEASE_ACTION in the pipeline's RELEASE_HISTORY context. It is written
RUNNING before the serving folder changes and COMPLETE after. A rollback and
a bless also record a PushedModel artifact for the version they published (as
TFX's Pusher records one, so `models` and `lineage trace` read it like a
push), with its source as input: the earlier version's PushedModel, or the
run's Model. An action left RUNNING by a killed process is settled by the
next one from what the serving folder holds (`settle_unfinished`); a prune,
which changes the pipeline root and not the serving folder, by the next prune.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ml_metadata.metadata_store import ListOptions
from ml_metadata.proto import metadata_store_pb2 as pb

from components.versioned_pusher.properties import (
    BLESSED_BY,
    PUSHED,
    PUSHED_DESTINATION,
    PUSHED_VERSION,
    ROLLED_BACK_TO,
)
from pipeline.metadata import store as mlmd
from pipeline.metadata.store import utc

RELEASE_HISTORY = "taxi_tfx.ReleaseHistory"
RELEASE_ACTION = "taxi_tfx.ReleaseAction"
ROLLBACK, PIN, UNPIN, BLESS, PRUNE = "rollback", "pin", "unpin", "bless", "prune"
PUBLISHING = (ROLLBACK, BLESS)  # the actions that add a version to the serving folder
# "schedule pause", ...: a change on a Kubeflow Pipelines server, which no local file can confirm.
SCHEDULE_PREFIX = "schedule "
FIELDS = ("action", "user", "reason", "from_version", "to_version", "new_version", "serving_dir", "run_id",
          "detail")


@dataclass(frozen=True)
class ReleaseRecord:
    id: int
    at: str
    state: str
    action: str
    user: str
    reason: str
    from_version: str
    to_version: str
    new_version: str
    serving_dir: str
    run_id: str
    detail: str  # a prune's: what it removed

    def as_dict(self) -> dict:
        return asdict(self)

    def one_line(self) -> str:
        served_as = f"(served as {self.new_version or '?'})"
        change = {ROLLBACK: f"{self.from_version} → {self.to_version} {served_as}",
                  BLESS: f"run {self.run_id} {served_as}",
                  PRUNE: self.detail}.get(self.action, self.detail or self.to_version)
        return f"{self.at}  {self.action} {change} by {self.user}: {self.reason} [{self.state.lower()}]"


def begin(store, pipeline_name: str, values: dict[str, str]) -> pb.Execution:
    """Records an action as RUNNING in the pipeline's release history, before anything changes."""
    execution = pb.Execution(type_id=_execution_type(store),
                             last_known_state=pb.Execution.RUNNING)
    for key in FIELDS:
        execution.custom_properties[key].string_value = str(values.get(key, ""))
    [execution.id] = store.put_executions([execution])
    context = _history(store, pipeline_name)
    store.put_attributions_and_associations([], [pb.Association(context_id=context.id,
                                                                execution_id=execution.id)])
    return execution


def finish(store, execution: pb.Execution, new_version: str, destination: str,
           source: pb.Artifact | None) -> None:
    """Marks a publishing action COMPLETE, with the PushedModel it published and its source as input.

    The source is the PushedModel a rollback serves again, or the Model a bless
    pushes; the PushedModel says which (ROLLED_BACK_TO, BLESSED_BY).
    """
    pushed = pb.Artifact(type_id=_pushed_model_type(store), uri=destination, state=pb.Artifact.LIVE)
    pushed.custom_properties[PUSHED].int_value = 1
    pushed.custom_properties[PUSHED_DESTINATION].string_value = destination
    pushed.custom_properties[PUSHED_VERSION].string_value = new_version
    if mlmd.custom_value(execution, "action") == BLESS:
        pushed.custom_properties[BLESSED_BY].string_value = (
            f"{mlmd.custom_value(execution, 'user')}: {mlmd.custom_value(execution, 'reason')}")
    else:
        to_version = mlmd.custom_value(execution, "to_version") or ""
        pushed.custom_properties[ROLLED_BACK_TO].string_value = to_version
    execution.custom_properties["new_version"].string_value = new_version
    execution.last_known_state = pb.Execution.COMPLETE
    events = [(pushed, _event(pb.Event.OUTPUT, "pushed_model"))]
    if source is not None:
        events.append((source, _event(pb.Event.INPUT, "model")))
    store.put_execution(execution, events, [_history_of(store, execution)])


def complete(store, execution: pb.Execution, detail: str | None = None) -> None:
    """Marks an action that publishes no version (a pin, an unpin, a schedule action) COMPLETE."""
    execution.last_known_state = pb.Execution.COMPLETE
    if detail is not None:
        execution.custom_properties["detail"].string_value = detail
    store.put_executions([execution])


def fail(store, execution: pb.Execution, error: str) -> None:
    """Marks an action whose change was refused or broke off FAILED, with why."""
    execution.last_known_state = pb.Execution.FAILED
    detail = mlmd.custom_value(execution, "detail") or ""
    execution.custom_properties["detail"].string_value = f"{detail} (failed: {error})".strip()
    store.put_executions([execution])


def settle_unfinished(store, pipeline_name: str, complete_versions: set[str],
                      pin_action_id: int | None) -> list[int]:
    """Actions a killed process left RUNNING: COMPLETE if their change is on disk, else CANCELED.

    A rollback's or a bless's change is its version, complete; a pin's, the pin file it
    wrote (the file names the action); an unpin's, no pin file.
    """
    settled = []
    for execution in _actions(store, pipeline_name):
        action = mlmd.custom_value(execution, "action")
        if execution.last_known_state != pb.Execution.RUNNING or action == PRUNE:  # prune settles its own
            continue
        if action.startswith(SCHEDULE_PREFIX):  # left RUNNING: the record says it never finished
            continue
        new_version = mlmd.custom_value(execution, "new_version") or ""
        if action in PUBLISHING and new_version in complete_versions:
            finish(store, execution, new_version,
                   f"{mlmd.custom_value(execution, 'serving_dir')}/{new_version}", None)
        elif (action == PIN and pin_action_id == execution.id) or (action == UNPIN and pin_action_id is None):
            complete(store, execution)
        else:
            execution.last_known_state = pb.Execution.CANCELED
            store.put_executions([execution])
        settled.append(execution.id)
    return settled


def release_history(store, pipeline_name: str | None) -> list[ReleaseRecord]:
    """The pipeline's release actions, newest first."""
    return _records(_actions(store, pipeline_name))


def _records(executions) -> list[ReleaseRecord]:
    return [ReleaseRecord(id=execution.id, at=utc(execution.create_time_since_epoch),
                          state=mlmd.STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
                          **{key: str(mlmd.custom_value(execution, key) or "") for key in FIELDS})
            for execution in sorted(executions, key=lambda e: (e.create_time_since_epoch, e.id),
                                    reverse=True)]


def actions_of_run(store, run_id: str) -> list[ReleaseRecord]:
    """The release actions that name one run, newest first (one filtered query): a bless of its
    model, a rollback that serves its model again, a pin or unpin of the version holding its model,
    the `schedule trigger` that started it (a KFP run's context is named by its run id)."""
    query = (f"type = '{RELEASE_ACTION}' AND custom_properties.run_id.string_value = "
             f"'{run_id.replace(chr(39), '')}'")
    return _records(store.get_executions(list_options=ListOptions(filter_query=query)))


def completed_bless(records: list[ReleaseRecord]) -> ReleaseRecord | None:
    """The newest completed manual bless among a run's actions (its push, when the Pusher made none)."""
    return next((r for r in records if r.action == BLESS and r.state == "COMPLETE"), None)


def _actions(store, pipeline_name: str | None) -> list[pb.Execution]:
    contexts = [context for context in store.get_contexts_by_type(RELEASE_HISTORY)
                if pipeline_name is None or context.name == pipeline_name]
    return [execution for context in contexts for execution in store.get_executions_by_context(context.id)]


def _event(kind, key: str) -> pb.Event:
    event = pb.Event(type=kind)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


def _history(store, pipeline_name: str) -> pb.Context:
    found = store.get_context_by_type_and_name(RELEASE_HISTORY, pipeline_name)
    if found is not None:
        return found
    type_id = store.put_context_type(pb.ContextType(name=RELEASE_HISTORY))
    [context_id] = store.put_contexts([pb.Context(type_id=type_id, name=pipeline_name)])
    return store.get_contexts_by_id([context_id])[0]


def _history_of(store, execution: pb.Execution) -> pb.Context:
    return next(context for context in store.get_contexts_by_execution(execution.id)
                if context.type == RELEASE_HISTORY)


def _execution_type(store) -> int:
    return store.put_execution_type(pb.ExecutionType(name=RELEASE_ACTION))


def _pushed_model_type(store) -> int:
    """TFX's PushedModel type as the store has it (registered by the first push)."""
    try:
        return store.get_artifact_type("PushedModel").id
    except Exception:  # MLMD's NotFoundError: nothing was pushed through TFX into this store
        return store.put_artifact_type(pb.ArtifactType(name="PushedModel"))
