"""Pusher executor: the stock blessing check, a pin check, then an atomic versioned push."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.utils import proto_utils

from components.versioned_pusher.properties import NOT_PUSHED_REASON, REUSED_EXISTING_VERSION
from components.versioned_pusher.push import push_model, read_pin
from components.versioned_pusher.versions import MODEL_URI, RUN_ID


class Executor(tfx_pusher.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties["push_destination"], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("the versioned pusher supports filesystem destinations only")
        pin = read_pin(destination.filesystem.base_directory)
        if pin is not None:  # blessed, but the served version is held (`models pin`)
            self._MarkNotPushed(pushed)
            pushed.set_string_custom_property(NOT_PUSHED_REASON, pin.sentence())
            return
        model = artifact_utils.get_single_instance(input_dict["model"])
        result = push_model(
            self.GetModelPath(input_dict),
            destination.filesystem.base_directory,
            metadata={MODEL_URI: model.uri, RUN_ID: self._context.pipeline_run_id
                      if self._context else None},
        )
        self._MarkPushed(pushed, pushed_destination=result.path, pushed_version=result.version)
        pushed.set_int_custom_property(REUSED_EXISTING_VERSION, int(result.reused))
