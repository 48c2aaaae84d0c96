"""ComponentSpec of the validation gate."""

from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.artifact_types import VALIDATION_REPORT


class ValidationReport(Artifact):
    """JSON report of the anomalies the gate found and its decision."""

    TYPE_NAME = VALIDATION_REPORT


class ValidationGateSpec(ComponentSpec):
    PARAMETERS = {
        # JSON list of anomaly severities that stop the run, e.g. ["ERROR"].
        "fail_on": ExecutionParameter(type=str),
        # Where the last accepted statistics are recorded, when no Resolver can find them.
        "reference_file": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        # For drift: this run's statistics, the schema, and the previous run's statistics.
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
        "schema": ChannelParameter(type=standard_artifacts.Schema, optional=True),
        "previous_statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
    }
    OUTPUTS = {
        "report": ChannelParameter(type=ValidationReport),
        # The statistics of data the gate let through (a copy), published only
        # when it passes: the next run compares its data with these, never with
        # data that was rejected.
        "accepted_statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
    }
