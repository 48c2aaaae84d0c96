"""A resolver strategy: the newest artifact of each input, or an empty list.

TFX's LatestArtifactStrategy returns None when nothing matches, which makes the
Resolver node FAILED on a pipeline's very first run, although nothing is wrong.
This one answers with an empty list, so the node completes and its consumers
see an empty optional input.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.common.resolver import ResolverStrategy


class LatestOrNothingStrategy(ResolverStrategy):
    def resolve_artifacts(
        self, store, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        return {key: sorted(artifacts, key=lambda a: a.id)[-1:] for key, artifacts in input_dict.items()}
