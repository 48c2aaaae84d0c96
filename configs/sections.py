"""The sections of a pipeline configuration, one typed model each (paths:, training:, kubeflow:, …).

PipelineConfig in configs/settings.py puts them together and load_config there is
the one place that reads, overrides and validates a configuration. Light: pydantic only, no I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class StrictSection(BaseModel):
    """A section that refuses unknown keys and cannot be changed after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(StrictSection):
    data: Path = Field(description="A CSV file, a folder of CSVs, or a folder of span-N/ folders.")
    output: Path = Field(description="Everything the pipeline writes lives under this folder.")
    schema_file: Path | None = Field(
        default=None, description="Curated schema (ImportSchemaGen); null infers one (SchemaGen)."
    )
    # What goes where under `output` is pipeline.shared.layout.OutputLayout's business.


class LabelConfig(StrictSection):
    column: str = "tips"
    # The example is positive when column > fraction * reference_column.
    # With reference_column null the column must already hold 0/1.
    reference_column: str | None = "fare"
    fraction: Annotated[float, Field(gt=0)] = 0.2


class FeaturesConfig(StrictSection):
    numeric: list[str] = Field(default_factory=list, description="Z-scored floats.")
    bucketized: dict[str, Annotated[int, Field(ge=2, le=1000)]] = Field(
        default_factory=dict, description="Float column -> number of quantile buckets."
    )
    integer_categorical: dict[str, Annotated[int, Field(ge=2, le=100_000)]] = Field(
        default_factory=dict, description="Integer column -> number of ids (0..n-1)."
    )
    string_categorical: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=dict, description="String column -> top-k vocabulary size."
    )
    # Evaluation-only outputs of Transform: <column>_bucket = how many boundaries
    # the value reaches. The model ignores them; TFMA can slice by them.
    slice_buckets: dict[str, list[float]] = Field(default_factory=dict)

    @field_validator("slice_buckets")
    @classmethod
    def _ascending_boundaries(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for column, boundaries in value.items():
            if not boundaries or boundaries != sorted(set(boundaries)):
                raise ValueError(f"slice_buckets.{column}: boundaries must be non-empty and ascending")
        return value

    @model_validator(mode="after")
    def _each_column_once(self) -> FeaturesConfig:
        seen: dict[str, str] = {}
        for group in ("numeric", "bucketized", "integer_categorical", "string_categorical"):
            for column in getattr(self, group):
                if column in seen:
                    raise ValueError(f"column {column!r} is declared in both {seen[column]} and {group}")
                seen[column] = group
        if not seen:
            raise ValueError("no features declared")
        return self

    def columns(self) -> list[str]:
        return [
            *self.numeric,
            *self.bucketized,
            *self.integer_categorical,
            *self.string_categorical,
        ]


class TrainingConfig(StrictSection):
    epochs: Annotated[int, Field(ge=1, le=1000)] = 12
    batch_size_per_replica: Annotated[int, Field(ge=1, le=65536)] = 128
    learning_rate: Annotated[float, Field(gt=0)] = 0.002
    hidden_units: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [128, 64])
    embedding_dim: Annotated[int, Field(ge=1, le=512)] = 8
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    # With no GPU, MirroredStrategy runs over this many logical CPU devices (>= 2).
    cpu_replicas: Annotated[int, Field(ge=1, le=64)] = 1
    # Processes training together under MultiWorkerMirroredStrategy (>= 2):
    # local processes on loopback, or the replicas of a TFJob on Kubeflow.
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    # The local workers' first port (worker i listens on worker_port + i); 0: free ports.
    worker_port: Annotated[int, Field(ge=0, le=65535)] = 0
    early_stopping_patience: Annotated[int, Field(ge=1)] = 3
    # Training steps Keras runs per call into TensorFlow: the same updates, less Python
    # between steps. One replica only (keras-team/keras#19246); tf.data refuses more
    # than 32 calls of get_next in one function (keras-team/keras#20344).
    steps_per_execution: Annotated[int, Field(ge=1, le=32)] = 1
    # An epoch trains on at most this many examples, and validates on at most max_validation_examples;
    # null reads the whole split. The datasets repeat: later epochs go on where the last one stopped.
    max_examples_per_epoch: Annotated[int, Field(ge=1)] | None = None
    max_validation_examples: Annotated[int, Field(ge=1)] | None = None
    # Training stops with an error when the loss is NaN/inf or exceeds this value.
    max_loss: Annotated[float, Field(gt=0)] = 100.0
    # Seconds of training between backups for resuming (0: every epoch; multi-worker: always).
    backup_interval_seconds: Annotated[float, Field(ge=0)] = 10.0
    seed: int = 42


class ThresholdConfig(StrictSection):
    metric: Literal["auc", "binary_accuracy", "precision", "recall", "auc_precision_recall"]
    lower_bound: Annotated[float, Field(ge=0, le=1)]


class EvaluationConfig(StrictSection):
    # Each entry is a list of feature names to slice by; [] is the overall slice.
    slices: list[list[str]] = Field(default_factory=lambda: [[]])
    # Lower bounds on the overall slice.
    thresholds: list[ThresholdConfig] = Field(default_factory=list)
    # Lower bounds on every other slice with at least min_slice_examples examples.
    slice_thresholds: list[ThresholdConfig] = Field(default_factory=list)
    min_slice_examples: Annotated[int, Field(ge=1)] = 200
    # A new model may be worse than the served one by at most this much AUC.
    max_auc_drop_vs_baseline: Annotated[float, Field(ge=0, le=1)] = 0.01

    @field_validator("thresholds")
    @classmethod
    def _at_least_one_threshold(cls, value: list[ThresholdConfig]) -> list[ThresholdConfig]:
        # Without any threshold TFX writes no blessing at all (tensorflow/tfx#5148).
        if not value:
            raise ValueError("at least one threshold is required, or no model can be blessed")
        return value


class ComponentBeamConfig(StrictSection):
    """Beam arguments single components add to beam_args on local runs (later arguments win)."""

    example_gen: list[str] = Field(default_factory=list)
    evaluator: list[str] = Field(default_factory=list)
    # The evaluator's arguments apply from this many input rows on; null: always.
    evaluator_from_rows: Annotated[int, Field(ge=0)] | None = None

    def evaluator_args(self, rows: int | None) -> list[str]:
        """The Evaluator's extra arguments for a run over `rows` input rows (None: not counted)."""
        if self.evaluator_from_rows is not None and (rows is None or rows < self.evaluator_from_rows):
            return []
        return list(self.evaluator)


class ValidationGateConfig(StrictSection):
    # Anomalies of these severities stop the run before Transform.
    fail_on: list[Literal["ERROR", "WARNING", "UNKNOWN"]] = Field(default_factory=lambda: ["ERROR"])
    # Compare the statistics with the previous run's, using the schema's drift comparators.
    drift: bool = True


class SearchSpaceConfig(StrictSection):
    """The Tuner's choices for each model hyperparameter (training: holds the untuned defaults)."""

    hidden_units: list[list[Annotated[int, Field(ge=1)]]] = Field(
        default_factory=lambda: [[128, 64], [256, 128], [64, 32]], min_length=1)
    learning_rate: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.001, 0.003, 0.01], min_length=1)
    dropout: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        default_factory=lambda: [0.0, 0.1, 0.2], min_length=1)
    embedding_dim: list[Annotated[int, Field(ge=1, le=512)]] = Field(
        default_factory=lambda: [4, 8, 16], min_length=1)


class TuningConfig(StrictSection):
    # When true, a Tuner (KerasTuner random search) runs before the Trainer and
    # its best hyperparameters replace training's hidden_units, learning_rate,
    # dropout and embedding_dim.
    enabled: bool = False
    max_trials: Annotated[int, Field(ge=1, le=1000)] = 8
    epochs_per_trial: Annotated[int, Field(ge=1, le=1000)] = 4
    search_space: SearchSpaceConfig = SearchSpaceConfig()


class PredictionConfig(StrictSection):
    # Input columns copied into every row of `predict`'s output, beside the
    # row number and the probability, so that scores can be joined back.
    key_columns: list[str] = Field(default_factory=list)
    # Rows scored per call of the model's serving signature.
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 8192


class MonitoringConfig(StrictSection):
    # After every local run, <pipeline_name>.prom (Prometheus text format) is
    # rewritten in textfile_dir, for node_exporter's textfile collector.
    enabled: bool = True
    textfile_dir: Path | None = Field(default=None, description="null: <paths.output>/metrics")


NotifyEvent = Literal["success", "failure", "not_blessed"]
NOTIFY_EVENTS: tuple[str, ...] = ("success", "failure", "not_blessed")
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def check_webhook_url(url: str) -> str:
    """An http(s) URL with a host and no credentials in it (the error never repeats the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("holds credentials: put the URL in an environment variable and name it in url_env")
    return url


class WebhookConfig(StrictSection):
    """An HTTP POST of the run's JSON summary. A URL that holds a secret belongs in url_env."""

    url: str | None = None
    url_env: Annotated[str, Field(pattern=ENV_NAME_PATTERN)] | None = Field(
        default=None, description="the name of an environment variable holding the URL")
    # Not `on:`, which YAML reads as the boolean true.
    events: Annotated[list[NotifyEvent], Field(min_length=1)] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS))
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        return None if url is None else check_webhook_url(url)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook needs exactly one of url and url_env")
        return self


class CommandConfig(StrictSection):
    """A command run with the JSON summary on its standard input (no shell unless the command is one)."""

    command: Annotated[list[str], Field(min_length=1)]
    events: Annotated[list[NotifyEvent], Field(min_length=1)] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS))
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0


class NotifyConfig(StrictSection):
    # After each local run (run, rerun, and every span of simulate): success =
    # finished and blessed, not_blessed = finished without a blessing, failure =
    # stopped, or refused before it started (bad data). A failed notification is
    # logged and never fails the run.
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    commands: list[CommandConfig] = Field(default_factory=list)


class MetadataConfig(StrictSection):
    kind: Literal["sqlite", "mysql", "postgresql"] = "sqlite"
    host: str = "127.0.0.1"
    port: int | None = None
    database: str = "mlmd"
    user: str | None = None
    # Never stored in a file: read from the TAXI_TFX_METADATA_PASSWORD variable.
    password_env: str = "TAXI_TFX_METADATA_PASSWORD"


# An image reference pinned by tag or digest: registry/name:tag or name@sha256:<64 hex>.
PINNED_IMAGE_PATTERN = r"^[a-z0-9.\-_/:]+(:[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}|@sha256:[0-9a-f]{64})$"
# Kubeflow pods cannot see this machine's disk: every location is a URI they can read.
REMOTE_URI_PATTERN = r"^(gs|s3|minio|hdfs)://[^\s]+$|^/[^\s]*$"


class KubeflowConfig(StrictSection):
    """The Kubeflow variant: where its pods read and write, and the image they run."""

    image: Annotated[str, Field(pattern=PINNED_IMAGE_PATTERN)] = Field(
        description="The pipeline image, pinned by tag or digest (never :latest).")
    pipeline_root: Annotated[str, Field(pattern=REMOTE_URI_PATTERN)]
    data: Annotated[str, Field(pattern=REMOTE_URI_PATTERN)] = Field(
        description="A folder of span-N/ folders (or of CSV files) on object storage.")
    serving_dir: Annotated[str, Field(pattern=REMOTE_URI_PATTERN)]
    # Trainer backups and the gate's reference to the last accepted statistics.
    state_dir: Annotated[str, Field(pattern=REMOTE_URI_PATTERN)]
    # Inside the image (the Dockerfile copies the repository to /app).
    schema_file: str | None = "/app/schemas/taxi/schema.pbtxt"
    experiment: Annotated[str, Field(min_length=1)] = "taxi-tfx"
    # Beam for the data components inside the pods; replaces the top-level beam_args.
    beam_args: list[str] = Field(default_factory=lambda: ["--direct_running_mode=multi_processing",
                                                           "--direct_num_workers=0"])
    # With training.workers >= 2 the Trainer task creates a TFJob here (null: the
    # namespace of the pipeline's own pods) through this Kubernetes API (null: in-cluster).
    tfjob_namespace: str | None = None
    kubernetes_api: str | None = None
    # nvidia.com/gpu limit of each TFJob replica (0: CPU only).
    tfjob_gpus_per_worker: Annotated[int, Field(ge=0, le=64)] = 0
    metadata_store: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("image")
    @classmethod
    def _not_latest(cls, value: str) -> str:
        if value.endswith(":latest"):
            raise ValueError("':latest' is not a pin; use a version tag or an @sha256: digest")
        return value
