"""ComponentSpec of the validation gate."""

from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter


class ValidationReport(Artifact):
    """JSON report of the anomalies the gate found and its decision."""

    TYPE_NAME = "ValidationReport"


class ValidationGateSpec(ComponentSpec):
    PARAMETERS = {
        # JSON list of anomaly severities that stop the run, e.g. ["ERROR"].
        "fail_on": ExecutionParameter(type=str),
    }
    INPUTS = {
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }
    OUTPUTS = {
        "report": ChannelParameter(type=ValidationReport),
    }
