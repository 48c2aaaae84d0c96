"""TFX's Transform, StatisticsGen and Evaluator executors, reading and writing examples in batches.

Each is TFX's own executor, run with two substitutions that last for its `Do`:

- TFX makes every tf.Example source with `tfx.components.util.tfxio_utils.make_tfxio`; for the
  length of the call that function returns the batched TFXIO of read.py in
  place of a TFExampleRecord (same schema, projections, raw-record column and
  tensor representations; anything else is left as TFX made it).
- Transform's executor builds its pipeline with a TransformProcessor that it
  creates by its module-level name; that name is BatchedIOProcessor meanwhile,
  whose sink for tf.Example TFRecords is write.py's.

Both are names inside TFX's own modules, so one lock serialises the
substitutions of every executor of a process, and both are put back on the way
out, whatever happens.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.components.statistics_gen import executor as tfx_statistics_gen
from tfx.components.transform import executor as tfx_transform
from tfx.components.transform import labels
from tfx.components.util import tfxio_utils
from tfx_bsl.tfxio import tf_example_record

from components.batched_io.read import BatchedTFExampleRecord
from components.batched_io.write import WriteEncodedBatches

# TFX's own, taken before any substitution.
_TFX_MAKE_TFXIO = tfxio_utils.make_tfxio
_TFX_PROCESSOR = tfx_transform.TransformProcessor
_SUBSTITUTION = threading.Lock()


def _make_tfxio(*args, **kwargs):
    tfxio = _TFX_MAKE_TFXIO(*args, **kwargs)
    # Exactly TFExampleRecord: a subclass may read something else.
    if type(tfxio) is tf_example_record.TFExampleRecord:
        return BatchedTFExampleRecord.like(tfxio)
    return tfxio


class BatchedIOProcessor(_TFX_PROCESSOR):
    """TFX's TransformProcessor with write.py's sink for the transformed tf.Example TFRecords."""

    @staticmethod
    def _EncodeAndWrite(schema, file_format: str, output_path: str) -> beam.PTransform:  # noqa: N802
        if file_format != labels.FORMAT_TFRECORD or _TFX_PROCESSOR._GetTFXIOPassthroughKeys():
            return _TFX_PROCESSOR._EncodeAndWrite(schema=schema, file_format=file_format,
                                                  output_path=output_path)
        return _WriteTransformed(output_path, schema)


class _WriteTransformed(beam.PTransform):
    """TFX's (transformed RecordBatch, unary pass-through features) pairs -> TFRecord files.

    The pass-through features are set only with pass-through keys, which go to TFX's own sink.
    """

    def __init__(self, output_path: str, schema):
        super().__init__()
        self._output_path = output_path
        self._schema = schema

    def expand(self, pairs):
        return (pairs | "RecordBatches" >> beam.Keys()
                | "Write" >> WriteEncodedBatches(self._output_path, self._schema))


@contextlib.contextmanager
def batched_example_io() -> Iterator[None]:
    """TFX's tf.Example sources (and Transform's sink) are the batched ones for the length of the block."""
    with _SUBSTITUTION:
        tfxio_utils.make_tfxio = _make_tfxio
        tfx_transform.TransformProcessor = BatchedIOProcessor
        try:
            yield
        finally:
            tfxio_utils.make_tfxio = _TFX_MAKE_TFXIO
            tfx_transform.TransformProcessor = _TFX_PROCESSOR


class _BatchedDo:
    """Runs the TFX executor it is mixed into with batched_example_io."""

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],  # noqa: N802 (TFX's name)
           exec_properties: dict[str, Any]) -> None:
        with batched_example_io():
            super().Do(input_dict, output_dict, exec_properties)


class TransformExecutor(_BatchedDo, tfx_transform.Executor):
    pass


class StatisticsGenExecutor(_BatchedDo, tfx_statistics_gen.Executor):
    pass


class EvaluatorExecutor(_BatchedDo, tfx_evaluator.Executor):
    pass
