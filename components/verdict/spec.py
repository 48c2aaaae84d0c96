"""ComponentSpec of the verdict writer."""

from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.artifact_types import EVALUATION_VERDICT


class EvaluationVerdict(Artifact):
    """The verdict file: blessed or not, every threshold checked, metrics per slice."""

    TYPE_NAME = EVALUATION_VERDICT


class VerdictSpec(ComponentSpec):
    PARAMETERS = {
        # JSON of the evaluation section of the config (thresholds, baseline margin).
        "evaluation_config": ExecutionParameter(type=str),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        # The Evaluator's blessing: overall bounds and the change vs baseline.
        "evaluator_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        # The Evaluator's baseline, when a ProductionBaseline supplied it: the
        # candidate standing in for a missing production model is no baseline.
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        "verdict": ChannelParameter(type=EvaluationVerdict),
        # The release decision the Pusher and the baseline resolver use.
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }
