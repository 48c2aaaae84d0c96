"""ServedModelStrategy: the local variant's baseline, the model of the version served now.

The Evaluator compares a candidate with what is served, not with the last
model that was blessed: after `models rollback` the two differ, and the
candidate must beat the model users get. What is served is the newest
complete version of the serving folder, as for TF Serving and for the
Kubeflow variant's ProductionBaseline; its push record names the Model
artifact it is a copy of (`model_uri`, kept by a rollback's copy too), and
that artifact, from the pipeline's own Models, is the baseline. Before the
first push, or when the served model is not one of the pipeline's, there is
no baseline, as with TFX's LatestBlessedModelStrategy before any blessing.
"""

from __future__ import annotations

import logging

from tfx import types
from tfx.dsl.components.common import resolver

from components.versioned_pusher.push import latest_pushed
from components.versioned_pusher.versions import MODEL_URI

MODEL_KEY = "model"  # the channel of the pipeline's Models, and the output the Evaluator reads

log = logging.getLogger(__name__)


class ServedModelStrategy(resolver.ResolverStrategy):
    def __init__(self, serving_dir: str):
        self._serving_dir = serving_dir

    def resolve_artifacts(self, store, input_dict: dict[str, list[types.Artifact]]):
        served = latest_pushed(self._serving_dir)
        if served is None:
            return {MODEL_KEY: []}
        folder, record = served
        models = [model for model in input_dict.get(MODEL_KEY, []) if model.uri == record.get(MODEL_URI)]
        if not models:
            log.warning("no baseline: the model served from %s (%s) is not one of this pipeline's",
                        folder, record.get(MODEL_URI))
        return {MODEL_KEY: models[-1:]}
