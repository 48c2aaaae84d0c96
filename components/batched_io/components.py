"""Transform, StatisticsGen and Evaluator with the executors of executors.py.

Each takes the same arguments and gives the same outputs as TFX's component
of that name (its spec is TFX's); only how the examples are read and written differs.
"""

from tfx.components.evaluator.component import Evaluator
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.transform.component import Transform
from tfx.dsl.components.base import executor_spec

from components.batched_io import executors


class BatchedIOTransform(Transform):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executors.TransformExecutor)


class BatchedIOStatisticsGen(StatisticsGen):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executors.StatisticsGenExecutor)


class BatchedIOEvaluator(Evaluator):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executors.EvaluatorExecutor)
