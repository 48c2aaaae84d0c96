"""CsvExampleGen with the executor that resolves {SPAN} where no driver ran."""

from tfx.components import CsvExampleGen
from tfx.dsl.components.base import executor_spec

from components.span_example_gen import executor


class SpanResolvingCsvExampleGen(CsvExampleGen):
    """CsvExampleGen, same arguments and outputs; see executor.py for why."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
