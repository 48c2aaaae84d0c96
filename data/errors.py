"""The data error, apart from the checks: the CLI catches it without importing their protobuf dependencies."""


class DataError(Exception):
    """The input data cannot be read as the pipeline needs; the message lists why."""
