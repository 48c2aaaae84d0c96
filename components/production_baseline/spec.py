"""ComponentSpec of the production-baseline finder (the Kubeflow variant's baseline)."""

from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter


class ProductionBaselineSpec(ComponentSpec):
    PARAMETERS = {
        # The Pusher's destination: the newest version folder there is production.
        "serving_dir": ExecutionParameter(type=str),
    }
    INPUTS = {
        # The candidate: the stand-in baseline while nothing is in production yet.
        "model": ChannelParameter(type=standard_artifacts.Model),
    }
    OUTPUTS = {
        "baseline_model": ChannelParameter(type=standard_artifacts.Model),
    }
