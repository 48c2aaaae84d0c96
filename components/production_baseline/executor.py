"""Finds the production model in the serving directory and copies it as the baseline."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.artifact_types import STANDS_IN_FOR_CANDIDATE
from components.versioned_pusher.push import latest_pushed
from components.versioned_pusher.versions import MODEL_URI


class ProductionModelMissing(RuntimeError):
    """The newest version in the serving directory is not a SavedModel."""


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        candidate = artifact_utils.get_single_instance(input_dict["model"])
        baseline = artifact_utils.get_single_instance(output_dict["baseline_model"])
        production = production_model(exec_properties["serving_dir"])
        if production is None:
            io_utils.copy_dir(candidate.uri, baseline.uri)
            baseline.set_string_custom_property("copied_from", candidate.uri)
        else:
            # The served folder is the SavedModel itself; the Evaluator looks
            # for it where a Trainer puts it.
            folder, record = production
            io_utils.copy_dir(folder, path_utils.serving_model_dir(baseline.uri))
            baseline.set_string_custom_property("copied_from", folder)
            baseline.set_string_custom_property("production_version", folder.rstrip("/").rsplit("/", 1)[-1])
            baseline.set_string_custom_property("production_model_uri", record.get(MODEL_URI, ""))
        baseline.set_int_custom_property(STANDS_IN_FOR_CANDIDATE, int(production is None))


def production_model(serving_dir: str) -> tuple[str, dict] | None:
    """The newest pushed version folder and its push record, or None before the first push."""
    latest = latest_pushed(serving_dir)
    if latest is not None and not fileio.exists(f"{latest[0]}/saved_model.pb"):
        raise ProductionModelMissing(f"{latest[0]} is the newest version in the serving directory but holds "
                                     "no saved_model.pb; fix or remove it before the next run")
    return latest
