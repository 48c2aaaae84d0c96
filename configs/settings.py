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
from pydantic import Field, ValidationError, model_validator

from configs.sections import (
    ComponentBeamConfig,
    EvaluationConfig,
    FeaturesConfig,
    KubeflowConfig,
    LabelConfig,
    MetadataConfig,
    MonitoringConfig,
    NotifyConfig,
    PathsConfig,
    PredictionConfig,
    StrictSection,
    TrainingConfig,
    TuningConfig,
    ValidationGateConfig,
    check_webhook_url,
)

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "local.yaml"
# A pipeline name must be usable as a Kubeflow pipeline name and a folder name.
PIPELINE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
ENV_PREFIX = "TAXI_TFX_"


class ConfigError(Exception):
    """A configuration problem, with the offending key or path in the message."""


class PipelineConfig(StrictSection):
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
    notify: NotifyConfig = NotifyConfig()
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

    def webhook_url(self, hook) -> str:
        """A webhook's URL, from the file or its url_env variable (ConfigError when unset or bad)."""
        url = hook.url if hook.url is not None else os.environ.get(hook.url_env, "")
        try:
            return check_webhook_url(url)
        except ValueError as error:
            raise ConfigError(f"notify: the variable {hook.url_env}: {error if url else 'not set'}") from None


def load_config(
    path: Path | str | None = None,
    overrides: list[str] | None = None,
    check_paths: bool = True,
    values: dict[str, Any] | None = None,
    sources: dict[str, str] | None = None,
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
      sources: ``dotted.key -> what set it`` for `values` (``--data``), so that
        an error names what the user typed rather than the file.

    Returns:
      The validated configuration.

    Raises:
      ConfigError: naming the file and the offending key or path.
    """
    path = Path(path) if path else DEFAULT_CONFIG
    raw = _read_yaml(path)
    # Where each value that is not the file's came from, for the error messages.
    origins: dict[str, str] = {}
    for item in overrides or []:
        origins[_apply_override(raw, item)] = f"--set {item}"
    environment = _environment_overrides()
    origins.update({key: f"{ENV_PREFIX}{name}" for key, name in environment.items()})
    for key, value in {**{key: os.environ[ENV_PREFIX + name] for key, name in environment.items()},
                       **(values or {})}.items():
        _set_value(raw, key, str(value) if isinstance(value, Path) else value)
    origins.update({key: (sources or {}).get(key, key) for key in values or {}})
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe_validation_error(path, error, origins)) from None
    if check_paths:
        _check_input_paths(path, config, origins)
    return config


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _origin(key: str, origins: dict[str, str]) -> str | None:
    """What set `key` (or the section holding it) when it was not the file: a --set, a flag, a variable."""
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        found = origins.get(".".join(parts[:depth]))
        if found:
            return found
    return None


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Reads one config file; `extends: other.yaml` starts from that file (relative to this one)."""
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give a YAML file")
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


def _apply_override(raw: dict[str, Any], item: str) -> str:
    """Sets one `dotted.key=value` in raw; returns the key."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like dotted.key=value")
    try:
        value = _override_value(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"override {item!r}: value is not valid YAML: {error}") from None
    _set_value(raw, key.strip(), value)
    return key.strip()


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
    return {key: name for name, key in mapping.items() if os.environ.get(ENV_PREFIX + name)}


def _describe_validation_error(path: Path, error: ValidationError, origins: dict[str, str]) -> str:
    """One line per problem, each blamed on what set the key: the file, a --set, a flag or a variable."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            problem = "unknown key"
        elif item["type"] == "missing":
            problem = "required key is missing"
        elif item["type"] == "value_error" and isinstance(item.get("input"), dict):
            # A rule across several keys: its message names them; the whole section is noise.
            problem = item["msg"].removeprefix("Value error, ")
        elif item["loc"][-1:] == ("url",):  # a webhook URL may hold a secret: never repeated
            problem = item["msg"].removeprefix("Value error, ")
        else:
            problem = f"{item['msg']} (got {item.get('input')!r})"
        problems.append((_origin(key, origins), f"{key}: {problem}"))
    if len(problems) == 1:  # one line: what set the key, the key, the problem
        origin, line = problems[0]
        return f"{origin or display_path(path)}: {line}"
    sources = {origin for origin, _ in problems}
    if len(sources) == 1 and None not in sources:
        header = f"{sources.pop()}: invalid values"
        return "\n".join([header, *(f"  {line}" for _, line in problems)])
    # Several sources: the file only when one of the problems is in it.
    header = f"{display_path(path)}: invalid configuration" if None in sources else "invalid values"
    lines = [header]
    lines += [f"  {line}" + (f" (from {origin})" if origin else "") for origin, line in problems]
    return "\n".join(lines)


def _check_input_paths(path: Path, config: PipelineConfig, origins: dict[str, str]) -> None:
    data_source = _origin("paths.data", origins)
    if not config.paths.data.exists():
        where = data_source or f"{display_path(path)}: paths.data"
        hint = "" if data_source else " (run `make data` to materialise the default taxi data)"
        raise ConfigError(f"{where}: no such file or folder: {config.paths.data}{hint}")
    schema = config.paths.schema_file
    if schema is not None and not schema.is_file():
        where = _origin("paths.schema_file", origins) or f"{display_path(path)}: paths.schema_file"
        raise ConfigError(f"{where}: no such file: {schema}")


def secret_values(config: PipelineConfig | None = None) -> list[str]:
    """Every secret this process may hold, so that writers can keep them out of files."""
    names = ["KFP_TOKEN", MetadataConfig().password_env]
    if config is not None:
        names.append(config.metadata.password_env)
        names.extend(hook.url_env for hook in config.notify.webhooks if hook.url_env)
    return sorted({os.environ[name] for name in names if os.environ.get(name)}, key=len, reverse=True)


def kfp_endpoint(host: str | None) -> tuple[str, str | None]:
    """Kubeflow Pipelines host (flag, else KFP_HOST) and bearer token (KFP_TOKEN; never in a file)."""
    host = host or os.environ.get("KFP_HOST")
    if not host:
        raise ConfigError("no Kubeflow Pipelines host: pass --host or set KFP_HOST, e.g. "
                          "http://localhost:8080 after "
                          "`kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80`")
    return host, os.environ.get("KFP_TOKEN") or None
