"""Grows a real ML Metadata store by replaying its runs, for the lineage benchmark and tests.

Each replayed run gets a new pipeline_run context whose executions link to the
same artifacts, the way TFX records a cached run. The structure is exactly what
TFX wrote; only the number of runs grows.
"""

from __future__ import annotations

from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import store as mlmd


def replay_runs(sqlite_path: Path, copies: int) -> int:
    """Adds `copies` replays of every run; returns the number of runs in the store."""
    store = mlmd.open_store(mlmd.sqlite_connection(sqlite_path))
    originals = mlmd.pipeline_runs(store)
    pipelines = store.get_contexts_by_type("pipeline")
    for copy in range(copies):
        for run in originals:
            replayed = metadata_store_pb2.Context(type_id=run.type_id, name=f"{run.name}-replay{copy}")
            [context_id] = store.put_contexts([replayed])
            replayed.id = context_id
            store.put_parent_contexts([
                metadata_store_pb2.ParentContext(child_id=context_id, parent_id=parent.id)
                for parent in pipelines
            ])
            for execution in store.get_executions_by_context(run.id):
                _replay_execution(store, execution, replayed)
    return len(mlmd.pipeline_runs(store))


def _replay_execution(store, execution, run_context) -> None:
    copy = metadata_store_pb2.Execution()
    copy.CopyFrom(execution)
    copy.ClearField("id")
    copy.ClearField("name")
    copy.ClearField("create_time_since_epoch")
    copy.ClearField("last_update_time_since_epoch")
    node_contexts = [c for c in store.get_contexts_by_execution(execution.id) if c.type == mlmd.NODE]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(
        [e.artifact_id for e in store.get_events_by_execution_ids([execution.id])])}
    pairs = []
    for event in store.get_events_by_execution_ids([execution.id]):
        new_event = metadata_store_pb2.Event(type=event.type)
        new_event.path.CopyFrom(event.path)
        pairs.append((artifacts[event.artifact_id], new_event))
    store.put_execution(copy, pairs, [*node_contexts, run_context], reuse_context_if_already_exist=True)
