"""Transform, with the executor that reads and writes examples in batches."""

from tfx.components.transform.component import Transform
from tfx.dsl.components.base import executor_spec

from components.batched_transform import executor


class BatchedIOTransform(Transform):
    """tfx.components.Transform, same arguments and outputs; see executor.py for what differs."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
