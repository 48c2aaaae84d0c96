"""Which pipeline of a store the read commands look at, when one store holds several.

A store shared by a team, or a KFP cluster's, records many pipelines; TFX's
and KFP's own pipeline contexts name them. The choice is made once per command
(pipeline.cli.common) and passed down as a name.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.metadata import store as mlmd


@dataclass(frozen=True)
class PipelineChoice:
    name: str | None  # None: the store holds no pipeline context (nothing to filter on)
    note: str | None = None  # said on stderr when the store holds others too


def pipeline_names(store) -> list[str]:
    """The pipelines the store holds runs of, TFX's and KFP's contexts, sorted."""
    return sorted({context.name for type_name in mlmd.PIPELINE_CONTEXT_TYPES
                   for context in store.get_contexts_by_type(type_name)})


def choose_pipeline(store, named: str | None, configured: str | None) -> PipelineChoice:
    """The pipeline named with --pipeline, else the store's only one, else the configuration's.

    Raises StoreNotFound (exit 2) for a name the store does not hold, and when
    it holds several pipelines and neither --pipeline nor the configuration
    names one of them.
    """
    names = pipeline_names(store)
    listed = ", ".join(names)
    if named is not None:
        if named not in names:
            holds = f"it holds {listed}" if names else "it holds no pipeline yet"
            raise mlmd.StoreNotFound(f"--pipeline {named}: no such pipeline in this store; {holds}")
        return PipelineChoice(named)
    if len(names) <= 1:
        return PipelineChoice(names[0] if names else None)
    if configured in names:
        return PipelineChoice(configured, f"this store holds {len(names)} pipelines ({listed}); showing "
                                          f"{configured}, the configuration's; choose with --pipeline NAME")
    raise mlmd.StoreNotFound(f"this store holds {len(names)} pipelines: {listed}; choose one with "
                             "--pipeline NAME")
