"""A configuration as a run records it, and back: `rerun` runs again with what a run recorded.

The record is the validated configuration as JSON, every path made absolute, so
that it means the same files from any working folder. It holds no secret: a
password is only ever named (metadata.password_env), never stored, and the
notify: section is left out (its webhook URLs may carry a token, and it
changes nothing a run computes; a rerun notifies as its file says today).
Loading a record validates it with today's model, so a record that no longer
fits the code gets the key and the problem, not a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from configs.settings import ConfigError, PipelineConfig


def resolved(model: BaseModel) -> BaseModel:
    """The configuration (or a section of it) with every path absolute."""
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path):
            updates[name] = value.resolve()
        elif isinstance(value, BaseModel):
            updates[name] = resolved(value)
    return model.model_copy(update=updates)


# Sections a run does not record (see above).
NOT_RECORDED = ("notify",)


def recorded_values(config: PipelineConfig) -> dict[str, Any]:
    """What a run records of a configuration: paths absolute, keys in the model's order."""
    values = resolved(config).model_dump(mode="json")
    return {key: value for key, value in values.items() if key not in NOT_RECORDED}


def config_record(config: PipelineConfig) -> str:
    """The JSON a run records (recorded_values)."""
    return json.dumps(recorded_values(config), separators=(",", ":"))


def config_from_record(record: str, what: str) -> PipelineConfig:
    """The configuration a record holds, validated now; ConfigError naming `what` and the key otherwise."""
    try:
        values = json.loads(record)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{what}: the recorded configuration is not JSON ({error})") from None
    try:
        return PipelineConfig.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc']) or '(top level)'}: {item['msg']}"
                             for item in error.errors())
        raise ConfigError(f"{what}: the recorded configuration does not load with this code: "
                          f"{problems}") from None


def flat_keys(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"training.epochs": 5, ...}: nested mappings as dotted keys; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flat_keys(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
