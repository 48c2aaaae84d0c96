"""Reading what TFX recorded in ML Metadata.

Imports only ml_metadata (a fraction of a second), never TensorFlow or TFX, so
the summary and the lineage commands answer quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from configs.settings import PipelineConfig
from pipeline.metadata.native_log import first_glog_error, native_stderr_captured
from pipeline.shared.layout import METADATA_FILE, OutputLayout

PIPELINE_RUN = "pipeline_run"
PIPELINE = "pipeline"
NODE = "node"
# What KFP 2.x's launcher records on a cluster (and `run-spec --store` locally);
# pipeline.kubeflow.metadata writes these.
KFP_PIPELINE_RUN = "system.PipelineRun"
KFP_PIPELINE = "system.Pipeline"
KFP_DAG_EXECUTION = "system.DAGExecution"
KFP_TASK_NAME = "task_name"
RUN_CONTEXT_TYPES = (PIPELINE_RUN, KFP_PIPELINE_RUN)
PIPELINE_CONTEXT_TYPES = (PIPELINE, KFP_PIPELINE)
# KFP types TFX's artifacts by their schema title: tfx.Examples for Examples.
KFP_TFX_PREFIX = "tfx."
STATE_NAMES = {
    value: name
    for name, value in metadata_store_pb2.Execution.State.items()
}
OUTPUT_EVENTS = (
    metadata_store_pb2.Event.OUTPUT,
    metadata_store_pb2.Event.DECLARED_OUTPUT,
    metadata_store_pb2.Event.INTERNAL_OUTPUT,
)


class StoreError(Exception):
    """The metadata store cannot be opened or holds nothing for the request."""


class StoreNotFound(StoreError):
    """What the user named does not exist: a store, a run, an artifact (exit 2, as a bad argument)."""


SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_connection(path: Path, read_only: bool = False) -> metadata_store_pb2.ConnectionConfig:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        if read_only
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def connection_from_url(url: str, password: str | None = None, read_only: bool = True):
    """A ConnectionConfig (or gRPC client config) from a path or URL.

    Accepts a SQLite file path, ``sqlite:///path``, ``mysql://user@host:port/db``,
    ``postgresql://user@host:port/db`` and ``grpc://host:port``. Passwords come
    from the caller (an environment variable), never from the URL in a file.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "sqlite"):
        path = Path(unquote(parsed.path if parsed.scheme else url))
        if path.is_dir():
            raise StoreNotFound(f"{path} is a folder; give the store's SQLite file ({METADATA_FILE} in it?)")
        if not path.is_file():
            raise StoreNotFound(f"no metadata store at {path} (has the pipeline run yet?)")
        if not _is_sqlite(path):
            raise StoreNotFound(f"{path} is not an SQLite database, so not an ML Metadata store")
        return sqlite_connection(path, read_only=read_only)
    if parsed.scheme == "grpc":
        client = metadata_store_pb2.MetadataStoreClientConfig()
        client.host = parsed.hostname or "localhost"
        client.port = parsed.port or 8080
        return client
    config = metadata_store_pb2.ConnectionConfig()
    database = parsed.path.lstrip("/") or "mlmd"
    if parsed.scheme == "mysql":
        config.mysql.host = parsed.hostname or "127.0.0.1"
        config.mysql.port = parsed.port or 3306
        config.mysql.database = database
        config.mysql.user = unquote(parsed.username or "root")
        config.mysql.password = password or ""
        return config
    if parsed.scheme in ("postgresql", "postgres"):
        config.postgresql.host = parsed.hostname or "127.0.0.1"
        config.postgresql.port = str(parsed.port or 5432)
        config.postgresql.dbname = database
        config.postgresql.user = unquote(parsed.username or "postgres")
        if password:
            config.postgresql.password = password
        return config
    raise StoreNotFound(f"unsupported store URL {url!r}: use a path, mysql://, postgresql:// or grpc://")


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as reader:
            return reader.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def config_connection(config: PipelineConfig, read_only: bool = False):
    """The store the configuration names: the SQLite file of its output folder, MySQL or PostgreSQL.

    Read-only SQLite fails clearly when the pipeline has not run yet, instead
    of creating an empty store.
    """
    meta = config.metadata
    if meta.kind == "sqlite":
        path = OutputLayout.of(config).metadata_file
        if read_only:
            return connection_from_url(str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite_connection(path.resolve())
    user = f"{meta.user}@" if meta.user else ""
    port = f":{meta.port}" if meta.port else ""
    url = f"{meta.kind}://{user}{meta.host}{port}/{meta.database}"
    return connection_from_url(url, password=config.metadata_password())


def open_store(connection) -> metadata_store.MetadataStore:
    """The store; when it cannot be opened, a StoreError with the database's own reason.

    MLMD's C++ code logs through glog straight to file descriptor 2, so a
    database that cannot be reached printed its log lines on the terminal
    while the exception said only "connection pointer is NULL". Those lines are
    captured while the store opens, and the error line among them becomes the reason.
    """
    with native_stderr_captured() as captured:
        try:
            return metadata_store.MetadataStore(connection)
        except Exception as error:  # MLMD raises several status error types
            failure = error
    reason = first_glog_error(captured[0]) or str(failure)
    raise StoreError(f"cannot open the metadata store: {reason}") from None


@dataclass(frozen=True)
class ComponentExecution:
    component: str
    state: str
    seconds: float
    execution: metadata_store_pb2.Execution


def pipeline_runs(store, pipeline_name: str | None = None) -> list[metadata_store_pb2.Context]:
    """Pipeline run contexts, newest first (optionally of one pipeline): TFX's and KFP's."""
    runs = [run for type_name in RUN_CONTEXT_TYPES for run in store.get_contexts_by_type(type_name)]
    if pipeline_name:
        pipeline_contexts = {
            context.id
            for type_name in PIPELINE_CONTEXT_TYPES
            for context in store.get_contexts_by_type(type_name)
            if context.name == pipeline_name
        }
        if pipeline_contexts:
            runs = [run for run in runs
                    if any(parent.id in pipeline_contexts
                           for parent in store.get_parent_contexts_by_context(run.id))]
    return sorted(runs, key=lambda run: (run.create_time_since_epoch, run.id), reverse=True)


def component_executions(store, run: metadata_store_pb2.Context) -> list[ComponentExecution]:
    """The executions of a run in the order they started, with component names (not KFP's root DAG)."""
    executions = [execution for execution in store.get_executions_by_context(run.id)
                  if execution.type != KFP_DAG_EXECUTION]
    result = []
    for execution in sorted(executions, key=lambda e: (e.create_time_since_epoch, e.id)):
        result.append(
            ComponentExecution(
                component=component_name(store, execution),
                state=STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
                seconds=(execution.last_update_time_since_epoch
                         - execution.create_time_since_epoch) / 1000.0,
                execution=execution,
            )
        )
    return result


def component_name(store, execution: metadata_store_pb2.Execution) -> str:
    """TFX's node name, or the task name KFP's launcher records."""
    if task_name := custom_value(execution, KFP_TASK_NAME):
        return task_name
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == NODE:
            return context.name.split(".", 1)[-1]
    return execution.type.rsplit(".", 1)[-1]


def output_artifacts(store, execution_ids: list[int]) -> list[metadata_store_pb2.Artifact]:
    """Artifacts the given executions produced (or reused, when cached)."""
    events = store.get_events_by_execution_ids(execution_ids)
    ids = sorted({event.artifact_id for event in events if event.type in OUTPUT_EVENTS})
    return list(store.get_artifacts_by_id(ids)) if ids else []


def type_names(type_name: str) -> tuple[str, ...]:
    """A type's name as TFX records it, and as KFP does (tfx.Examples) for TFX's own types."""
    if "." in type_name:
        return (type_name,)
    return (type_name, KFP_TFX_PREFIX + type_name)


def artifacts_of_type(artifacts, type_name: str) -> list[metadata_store_pb2.Artifact]:
    names = type_names(type_name)
    return [artifact for artifact in artifacts if artifact.type in names]


def artifacts_by_type(store, type_name: str) -> list[metadata_store_pb2.Artifact]:
    """Every artifact of a type, under TFX's name and KFP's."""
    return [artifact for name in type_names(type_name) for artifact in store.get_artifacts_by_type(name)]


# Input keys that point into earlier runs: following them would walk from the
# candidate model through its baseline into every run before it.
BASELINE_INPUT_KEYS = frozenset({"baseline_model"})


def event_key(event) -> str:
    """The input or output key of an event ("examples", "model", …)."""
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


def custom_value(artifact, key: str):
    """A custom property's value as a Python value, or None."""
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def cancel_unfinished(store, pipeline_name: str, run_id: str | None = None) -> list[str]:
    """Marks the pipeline's executions still RUNNING (of one run, or of all) as CANCELED.

    An execution stays RUNNING when its process died or was stopped between
    TFX's own bookkeeping steps. Callers hold the run lock, so no live process
    can own one. Returns the components' names.
    """
    running = store.get_executions(list_options=metadata_store.ListOptions(
        filter_query="last_known_state = RUNNING"))
    stopped = []
    for execution in running:
        runs = [context for context in store.get_contexts_by_execution(execution.id)
                if context.type == PIPELINE_RUN]
        if run_id is not None:
            runs = [run for run in runs if run.name == run_id]
        if any(_belongs_to(store, run, pipeline_name) for run in runs):
            execution.last_known_state = metadata_store_pb2.Execution.CANCELED
            store.put_executions([execution])
            stopped.append(component_name(store, execution))
    return stopped


def _belongs_to(store, run: metadata_store_pb2.Context, pipeline_name: str) -> bool:
    return any(parent.type == "pipeline" and parent.name == pipeline_name
               for parent in store.get_parent_contexts_by_context(run.id))


def run_context(store, run_id: str) -> metadata_store_pb2.Context | None:
    """The run context named run_id, TFX's or KFP's (None when no run of that id was registered)."""
    for type_name in RUN_CONTEXT_TYPES:
        if (context := store.get_context_by_type_and_name(type_name, run_id)) is not None:
            return context
    return None


def annotate_run(store, run: metadata_store_pb2.Context, values: dict[str, str]) -> None:
    """Adds string custom properties to a pipeline run context (e.g. the code version)."""
    for key, value in values.items():
        run.custom_properties[key].string_value = str(value)
    store.put_contexts([run])


def utc(milliseconds: int) -> str:
    """An MLMD time (milliseconds since the epoch) as the commands print it."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
