"""Records a `run-spec` run in ML Metadata the way KFP 2.x's launcher records a run on a cluster.

Follows kubeflow/pipelines backend/src/v2/metadata/client.go (GetPipeline,
CreateExecution, PublishExecution, RecordArtifact); not checked against a
live cluster's store:

- a context of type ``system.Pipeline`` named after the pipeline, parent of a
  ``system.PipelineRun`` context named after the run, with ``pipeline_root``,
  ``namespace`` and ``resource_name`` custom properties;
- a root ``system.DAGExecution`` (no task name) and, per task, a
  ``system.ContainerExecution`` with ``display_name``, ``task_name``,
  ``image``, ``pod_name``, ``pod_uid``, ``namespace``, ``parent_dag_id``,
  ``inputs`` (the parameters, as a struct), ``cache_fingerprint`` and, for
  cached tasks, ``cached_execution_id``; both executions in both contexts;
- artifacts typed by the schema title of their type (``tfx.Examples``,
  ``components.EvaluationVerdict``), with the executor's metadata as custom
  properties and a ``display_name``; INPUT and OUTPUT events whose path is
  the input or output key. A cached task's OUTPUT events point at the
  artifacts of the execution it reused, as KFP does.

Imports ml_metadata and protobuf only.
"""

from __future__ import annotations

import re

from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.kubeflow.task_results import CACHED, COMPLETE, FAILED, SpecRunResult, TaskResult
from pipeline.metadata import run_facts
from pipeline.metadata.store import KFP_DAG_EXECUTION, KFP_PIPELINE, KFP_PIPELINE_RUN, KFP_TASK_NAME
from pipeline.shared.redaction import redact

# KFP's names that the lineage readers also use are defined in pipeline.metadata.store.
CONTAINER_EXECUTION = "system.ContainerExecution"
NAMESPACE = "local"
STATES = {COMPLETE: pb.Execution.COMPLETE, CACHED: pb.Execution.CACHED, FAILED: pb.Execution.FAILED}
SCHEMA_TITLE = re.compile(r"^title:\s*(\S+)", re.MULTILINE)


class KfpRunRecorder:
    """Writes one run's contexts, executions, artifacts and events as the KFP launcher would."""

    def __init__(self, store, pipeline_name: str, run_id: str, pipeline_root: str, secrets=()):
        self.store, self.secrets = store, list(secrets)
        pipeline = _get_or_put_context(store, KFP_PIPELINE, pipeline_name, {})
        self.run = _get_or_put_context(store, KFP_PIPELINE_RUN, run_id, {
            "pipeline_root": f"{pipeline_root.rstrip('/')}/{pipeline_name}/{run_id}",
            "namespace": NAMESPACE, "resource_name": run_id, "store_session_info": ""})
        store.put_parent_contexts([pb.ParentContext(child_id=self.run.id, parent_id=pipeline.id)])
        self.contexts = [pipeline, self.run]
        root = pb.Execution(type_id=_execution_type(store, KFP_DAG_EXECUTION),
                            last_known_state=pb.Execution.RUNNING)
        root.custom_properties["display_name"].string_value = ""
        root.custom_properties[KFP_TASK_NAME].string_value = ""
        self.root_execution = root
        self.root_execution.id = store.put_execution(root, [], self.contexts)[0]
        self.executions: dict[str, pb.Execution] = {}  # started, not yet published

    def start_task(self, name: str, image: str) -> None:
        """Creates the task's execution, RUNNING, as the driver does before the pod starts."""
        execution = pb.Execution(type_id=_execution_type(self.store, CONTAINER_EXECUTION),
                                 last_known_state=pb.Execution.RUNNING)
        properties = {"display_name": name, KFP_TASK_NAME: name, "image": image,
                      "pod_name": f"{self.run.name}-{name.lower()}", "pod_uid": "", "namespace": NAMESPACE}
        for key, value in properties.items():
            execution.custom_properties[key].string_value = value
        execution.custom_properties["parent_dag_id"].int_value = self.root_execution.id
        execution.id = self.store.put_execution(execution, [], self.contexts)[0]
        self.executions[name] = execution

    def record_task(self, result: TaskResult) -> None:
        """Publishes a finished task (COMPLETE, CACHED or FAILED) with its input and output events."""
        execution = self.executions.pop(result.name, None)
        if execution is None or result.state not in STATES:
            return
        execution.last_known_state = STATES[result.state]
        if result.fingerprint:
            execution.custom_properties["cache_fingerprint"].string_value = result.fingerprint
        if result.cached_from:
            reused = self._execution_of(result)
            if reused is not None:
                execution.custom_properties["cached_execution_id"].string_value = str(reused)
        if result.executor_input is not None:
            inputs = struct_pb2.Struct()
            inputs.update(result.executor_input["inputs"]["parameterValues"])
            execution.custom_properties["inputs"].struct_value.CopyFrom(inputs)
        pairs = self._input_events(result) + self._output_events(result)
        self.store.put_execution(execution, pairs, self.contexts)

    def finish(self, result: SpecRunResult) -> None:
        """Closes the root DAG execution and records why the run stopped, if it did."""
        reason = None
        if result.failed:
            first = result.failed[0]
            reason = f"{first.name}: {first.error}"
        self._close(succeeded=result.succeeded, reason=reason)

    def interrupted(self, reason: str) -> None:
        """A signal stopped the run: the tasks it stopped are CANCELED, the run says why."""
        for execution in self.executions.values():
            execution.last_known_state = pb.Execution.CANCELED
        self.store.put_executions(list(self.executions.values()))
        self.executions.clear()
        self._close(succeeded=False, reason=reason)

    def _close(self, succeeded: bool, reason: str | None) -> None:
        self.root_execution.last_known_state = pb.Execution.COMPLETE if succeeded else pb.Execution.FAILED
        self.store.put_executions([self.root_execution])
        if reason:
            self.run.custom_properties[run_facts.STOP_REASON].string_value = \
                redact(reason, self.secrets)[:run_facts.STOP_REASON_LIMIT]
            self.store.put_contexts([self.run])

    def _input_events(self, result: TaskResult) -> list:
        pairs = []
        artifacts = (result.executor_input or {}).get("inputs", {}).get("artifacts", {})
        for key, value in artifacts.items():
            for item in value["artifacts"]:
                # The stored artifact itself: put_execution writes back whatever it is given.
                pairs.extend((artifact, _event(pb.Event.INPUT, key)) for artifact in self._known(item))
        return pairs

    def _output_events(self, result: TaskResult) -> list:
        pairs = []
        for key, items in result.outputs.items():
            for item in items:
                known = self._known(item) if result.state == CACHED else []
                if known:
                    pairs.extend((artifact, _event(pb.Event.OUTPUT, key)) for artifact in known)
                else:
                    pairs.append((self._new_artifact(key, item), _event(pb.Event.OUTPUT, key)))
        return pairs

    def _known(self, item: dict) -> list[pb.Artifact]:
        """The MLMD artifact recorded for a runtime artifact: same URI and type (from any run)."""
        type_name = schema_title(item["type"])
        return [artifact for artifact in self.store.get_artifacts_by_uri(item["uri"])
                if artifact.type == type_name][:1]

    def _new_artifact(self, key: str, item: dict) -> pb.Artifact:
        artifact = pb.Artifact(type_id=_artifact_type(self.store, schema_title(item["type"])),
                               uri=item["uri"], state=pb.Artifact.LIVE)
        for name, value in item.get("metadata", {}).items():
            _set_value(artifact.custom_properties[name], value)
        if "display_name" not in artifact.custom_properties:
            artifact.custom_properties["display_name"].string_value = key
        return artifact

    def _execution_of(self, result: TaskResult) -> int | None:
        """The execution whose outputs a cached task reused: the producer of its first output."""
        for items in result.outputs.values():
            for item in items:
                for artifact in self._known(item):
                    events = self.store.get_events_by_artifact_ids([artifact.id])
                    producers = sorted(e.execution_id for e in events if e.type == pb.Event.OUTPUT)
                    if producers:
                        return producers[0]
        return None


def schema_title(artifact_type: dict) -> str:
    """`tfx.Examples` from an artifactType's instanceSchema (or its schemaTitle)."""
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    match = SCHEMA_TITLE.search(artifact_type.get("instanceSchema", ""))
    return match.group(1) if match else "system.Artifact"


def _event(kind, key: str) -> pb.Event:
    event = pb.Event(type=kind)
    event.path.steps.add().key = key
    return event


def _set_value(target: pb.Value, value) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        # The executor output is JSON: integers arrive as floats (span 2.0).
        if value.is_integer():
            target.int_value = int(value)
        else:
            target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    else:
        struct = struct_pb2.Struct()
        struct.update({"value": value})
        target.struct_value.CopyFrom(struct)


def _get_or_put_context(store, type_name: str, name: str, properties: dict[str, str]) -> pb.Context:
    existing = store.get_context_by_type_and_name(type_name, name)
    if existing is not None:
        return existing
    type_id = store.put_context_type(pb.ContextType(name=type_name))
    context = pb.Context(type_id=type_id, name=name)
    for key, value in properties.items():
        context.custom_properties[key].string_value = value
    context.id = store.put_contexts([context])[0]
    return store.get_contexts_by_id([context.id])[0]


def _execution_type(store, name: str) -> int:
    return store.put_execution_type(pb.ExecutionType(name=name))


def _artifact_type(store, name: str) -> int:
    return store.put_artifact_type(pb.ArtifactType(name=name))
