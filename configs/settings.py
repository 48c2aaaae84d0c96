"""The one place where pipeline configuration is loaded and validated.

Configuration is YAML in this folder, checked by the typed model below. Single
values can be overridden with dotted keys (``training.epochs=3``). Environment
variables are read here and nowhere else.

This module must stay light: it is imported by commands that never touch
TensorFlow (lineage, help, config checks), so it imports only pydantic and yaml.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "local.yaml"
# A pipeline name must be usable as a Kubeflow pipeline name and a folder name.
PIPELINE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ENV_PREFIX = "TAXI_TFX_"


class ConfigError(Exception):
    """A configuration problem, with the offending key or path in the message."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(_Strict):
    data: Path = Field(description="A CSV file, a folder of CSVs, or a folder of span-N/ folders.")
    output: Path = Field(description="Everything the pipeline writes lives under this folder.")
    schema_file: Path | None = Field(
        default=None, description="Curated schema (ImportSchemaGen); null infers one (SchemaGen)."
    )
    # What goes where under `output` is pipeline.shared.layout.OutputLayout's business.


class LabelConfig(_Strict):
    column: str = "tips"
    # The example is positive when column > fraction * reference_column.
    # With reference_column null the column must already hold 0/1.
    reference_column: str | None = "fare"
    fraction: Annotated[float, Field(gt=0)] = 0.2


class FeaturesConfig(_Strict):
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


class TrainingConfig(_Strict):
    epochs: Annotated[int, Field(ge=1, le=1000)] = 12
    batch_size_per_replica: Annotated[int, Field(ge=1, le=65536)] = 128
    learning_rate: Annotated[float, Field(gt=0)] = 0.003
    hidden_units: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [128, 64])
    embedding_dim: Annotated[int, Field(ge=1, le=512)] = 8
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    # With no GPU, MirroredStrategy runs over this many logical CPU devices (>= 2).
    cpu_replicas: Annotated[int, Field(ge=1, le=64)] = 1
    early_stopping_patience: Annotated[int, Field(ge=1)] = 3
    # Training steps Keras runs per call into TensorFlow. The same steps and
    # updates either way; fewer calls spend less time in Python between steps.
    # One replica only (keras-team/keras#19246); tf.data refuses more than 32
    # calls of get_next in one function (keras-team/keras#20344).
    steps_per_execution: Annotated[int, Field(ge=1, le=32)] = 1
    # An epoch reads at most this many training (and validation) examples; null
    # reads the whole split. The datasets repeat, so later epochs carry on where
    # the last one stopped and large data is still covered over the epochs.
    max_examples_per_epoch: Annotated[int, Field(ge=1)] | None = None
    # Training stops with an error when the loss is NaN/inf or exceeds this value.
    max_loss: Annotated[float, Field(gt=0)] = 100.0
    seed: int = 42


class ThresholdConfig(_Strict):
    metric: Literal["auc", "binary_accuracy", "precision", "recall", "auc_precision_recall"]
    lower_bound: Annotated[float, Field(ge=0, le=1)]


class EvaluationConfig(_Strict):
    # Each entry is a list of feature names to slice by; [] is the overall slice.
    slices: list[list[str]] = Field(default_factory=lambda: [[]])
    # Lower bounds on the overall slice.
    thresholds: list[ThresholdConfig] = Field(default_factory=list)
    # Lower bounds on every other slice with at least min_slice_examples examples.
    slice_thresholds: list[ThresholdConfig] = Field(default_factory=list)
    min_slice_examples: Annotated[int, Field(ge=1)] = 200
    # A new model may be worse than the last blessed one by at most this much AUC.
    max_auc_drop_vs_baseline: Annotated[float, Field(ge=0, le=1)] = 0.01

    @field_validator("thresholds")
    @classmethod
    def _at_least_one_threshold(cls, value: list[ThresholdConfig]) -> list[ThresholdConfig]:
        # Without any threshold TFX writes no blessing at all (tensorflow/tfx#5148).
        if not value:
            raise ValueError("at least one threshold is required, or no model can be blessed")
        return value


class ComponentBeamConfig(_Strict):
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


class ValidationGateConfig(_Strict):
    # Anomalies of these severities stop the run before Transform.
    fail_on: list[Literal["ERROR", "WARNING", "UNKNOWN"]] = Field(default_factory=lambda: ["ERROR"])
    # Compare the statistics with the previous run's, using the schema's drift comparators.
    drift: bool = True


class SearchSpaceConfig(_Strict):
    """The Tuner's choices for each model hyperparameter (training: holds the untuned defaults)."""

    hidden_units: list[list[Annotated[int, Field(ge=1)]]] = Field(
        default_factory=lambda: [[128, 64], [256, 128], [64, 32]], min_length=1)
    learning_rate: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.001, 0.003, 0.01], min_length=1)
    dropout: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        default_factory=lambda: [0.0, 0.1, 0.2], min_length=1)
    embedding_dim: list[Annotated[int, Field(ge=1, le=512)]] = Field(
        default_factory=lambda: [4, 8, 16], min_length=1)


class TuningConfig(_Strict):
    # When true, a Tuner (KerasTuner random search) runs before the Trainer and
    # its best hyperparameters replace training's hidden_units, learning_rate,
    # dropout and embedding_dim.
    enabled: bool = False
    max_trials: Annotated[int, Field(ge=1, le=1000)] = 8
    epochs_per_trial: Annotated[int, Field(ge=1, le=1000)] = 4
    search_space: SearchSpaceConfig = SearchSpaceConfig()


class PredictionConfig(_Strict):
    # Input columns copied into every row of `predict`'s output, beside the
    # row number and the probability, so that scores can be joined back.
    key_columns: list[str] = Field(default_factory=list)
    # Rows scored per call of the model's serving signature.
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 8192


class MonitoringConfig(_Strict):
    # After every local run, <pipeline_name>.prom (Prometheus text format) is
    # rewritten in textfile_dir, for node_exporter's textfile collector.
    enabled: bool = True
    textfile_dir: Path | None = Field(default=None, description="null: <paths.output>/metrics")


class MetadataConfig(_Strict):
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


class KubeflowConfig(_Strict):
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

    @field_validator("image")
    @classmethod
    def _not_latest(cls, value: str) -> str:
        if value.endswith(":latest"):
            raise ValueError("':latest' is not a pin; use a version tag or an @sha256: digest")
        return value


class PipelineConfig(_Strict):
    pipeline_name: Annotated[str, Field(pattern=PIPELINE_NAME_PATTERN)] = "taxi-tfx"
    paths: PathsConfig
    label: LabelConfig = LabelConfig()
    features: FeaturesConfig
    training: TrainingConfig = TrainingConfig()
    tuning: TuningConfig = TuningConfig()
    evaluation: EvaluationConfig
    validation: ValidationGateConfig = ValidationGateConfig()
    metadata: MetadataConfig = MetadataConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    prediction: PredictionConfig = PredictionConfig()
    # With a folder of span-N/ folders: read every span, only the newest one, or span N.
    spans: Literal["all", "latest"] | Annotated[int, Field(ge=1)] = "all"
    # A rolling window: read the `window` spans that end at the chosen one
    # (with spans: latest or N; `all` already reads every span).
    window: Annotated[int, Field(ge=1)] = 1
    beam_args: list[str] = Field(default_factory=lambda: ["--direct_running_mode=in_memory"])
    component_beam_args: ComponentBeamConfig = ComponentBeamConfig()
    enable_cache: bool = True
    # Only for `compile`, `submit` and `schedule` (configs/kubeflow.yaml).
    kubeflow: KubeflowConfig | None = None

    @model_validator(mode="after")
    def _window_needs_a_chosen_span(self) -> PipelineConfig:
        if self.window > 1 and self.spans == "all":
            raise ValueError(f"window: {self.window} needs spans: latest or a span number; "
                             "spans: all already reads every span")
        return self

    @model_validator(mode="after")
    def _label_not_a_feature(self) -> PipelineConfig:
        if self.label.column in self.features.columns():
            raise ValueError(f"label column {self.label.column!r} is also declared as a feature")
        return self

    def metadata_password(self) -> str | None:
        return os.environ.get(self.metadata.password_env)


def load_config(
    path: Path | str | None = None,
    overrides: list[str] | None = None,
    check_paths: bool = True,
    values: dict[str, Any] | None = None,
) -> PipelineConfig:
    """Loads, overrides and validates a pipeline configuration.

    Args:
      path: YAML file; the bundled ``local.yaml`` when None.
      overrides: ``dotted.key=value`` strings (``--set``): a value that opens
        with ``[`` or ``{`` is YAML flow syntax, a number, boolean or null is
        typed as YAML types it, and anything else is taken verbatim, so that
        ``#`` or ``: `` in a path or name stays what it is.
      check_paths: whether input files named by the config must exist.
      values: ``dotted.key -> value`` set as they are, never parsed (``--data``,
        ``--output``); they win over `overrides`.

    Returns:
      The validated configuration.

    Raises:
      ConfigError: naming the file and the offending key or path.
    """
    path = Path(path) if path else DEFAULT_CONFIG
    raw = _read_yaml(path)
    for item in overrides or []:
        _apply_override(raw, item)
    for key, value in {**_environment_overrides(), **(values or {})}.items():
        _set_value(raw, key, str(value) if isinstance(value, Path) else value)
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe_validation_error(path, error)) from None
    if check_paths:
        _check_input_paths(path, config)
    return config


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Reads one config file; `extends: other.yaml` starts from that file (relative to this one)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends must be the path of another config file")
    base_path = (path.parent / base).resolve()
    if base_path in seen:
        raise ConfigError(f"{path}: extends {base} again (a cycle)")
    return _deep_merge(_read_yaml(base_path, (*seen, path.resolve())), raw)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """base with update laid over it: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like dotted.key=value")
    try:
        value = _override_value(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"override {item!r}: value is not valid YAML: {error}") from None
    _set_value(raw, key.strip(), value)


def _override_value(text: str) -> Any:
    """A --set value: YAML for lists and mappings, numbers, booleans and null; otherwise the text itself."""
    if text.strip()[:1] in ("[", "{"):
        return yaml.safe_load(text)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return parsed if parsed is None and text.strip() in ("", "null", "~") or \
        isinstance(parsed, (bool, int, float)) else text


def _set_value(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {'.'.join(parts[: depth + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value


def _environment_overrides() -> dict[str, str]:
    """TAXI_TFX_OUTPUT and TAXI_TFX_DATA override the two paths users move most."""
    mapping = {"OUTPUT": "paths.output", "DATA": "paths.data"}
    return {
        key: os.environ[ENV_PREFIX + name]
        for name, key in mapping.items()
        if os.environ.get(ENV_PREFIX + name)
    }


def _describe_validation_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        elif item["type"] == "value_error" and isinstance(item.get("input"), dict):
            # A rule across several keys: its message names them; the whole section is noise.
            lines.append(f"  {key}: {item['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _check_input_paths(path: Path, config: PipelineConfig) -> None:
    if not config.paths.data.exists():
        raise ConfigError(
            f"{path}: paths.data: no such file or folder: {config.paths.data}"
            " (run `make data` to materialise the default taxi data)"
        )
    schema = config.paths.schema_file
    if schema is not None and not schema.is_file():
        raise ConfigError(f"{path}: paths.schema_file: no such file: {schema}")


def secret_values(config: PipelineConfig | None = None) -> list[str]:
    """Every secret this process may hold, so that writers can keep them out of files."""
    names = ["KFP_TOKEN", MetadataConfig().password_env]
    if config is not None:
        names.append(config.metadata.password_env)
    return sorted({os.environ[name] for name in names if os.environ.get(name)}, key=len, reverse=True)


def kfp_endpoint(host: str | None) -> tuple[str, str | None]:
    """Kubeflow Pipelines host (flag, else KFP_HOST) and bearer token (KFP_TOKEN; never in a file)."""
    host = host or os.environ.get("KFP_HOST")
    if not host:
        raise ConfigError("no Kubeflow Pipelines host: pass --host or set KFP_HOST, e.g. "
                          "http://localhost:8080 after "
                          "`kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80`")
    return host, os.environ.get("KFP_TOKEN") or None
