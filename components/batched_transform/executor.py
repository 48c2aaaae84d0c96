"""Transform's executor with TFRecord examples read and written through components/batched_io.

TFX's executor hands the work to a TransformProcessor, which builds the Beam
pipeline: its `_CreateTFXIO` makes the source of each split and its
`_EncodeAndWrite` the sink of the transformed examples. `BatchedIOProcessor`
replaces those two for tf.Example TFRecords and leaves every other case
(Parquet, sequence examples, raw records kept alongside, pass-through keys) to
TFX. TFX's Executor.Do creates its processor by its module-level name, so `Do`
puts this one under that name for the length of the call.
"""

from __future__ import annotations

import threading
from typing import Any

import apache_beam as beam
from tfx.components.transform import executor as tfx_transform
from tfx.components.transform import labels
from tfx_bsl.tfxio import tf_example_record

from components.batched_io.read import BatchedTFExampleRecord
from components.batched_io.write import WriteEncodedBatches

# Taken before any swap: BatchedIOProcessor falls back on its methods.
_TFX_PROCESSOR = tfx_transform.TransformProcessor
# Two executors in one process must not swap the processor under each other.
_PROCESSOR_SWAP = threading.Lock()


class BatchedIOProcessor(_TFX_PROCESSOR):
    """TFX's TransformProcessor with the batched source and sink for tf.Example TFRecords."""

    def _CreateTFXIO(self, dataset, schema):  # noqa: N802 (TFX's name)
        tfxio = super()._CreateTFXIO(dataset, schema)
        # Exactly TFExampleRecord: a subclass may read something else.
        if type(tfxio) is tf_example_record.TFExampleRecord:
            return BatchedTFExampleRecord.like(tfxio)
        return tfxio

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
        return pairs | "RecordBatches" >> beam.Keys() | "Write" >> WriteEncodedBatches(self._output_path,
                                                                                       self._schema)


class Executor(tfx_transform.Executor):
    """tfx.components.transform.executor.Executor, building its Beam pipeline with BatchedIOProcessor."""

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list],  # noqa: N802 (TFX's name)
           exec_properties: dict[str, Any]) -> None:
        with _PROCESSOR_SWAP:
            tfx_transform.TransformProcessor = BatchedIOProcessor
            try:
                super().Do(input_dict, output_dict, exec_properties)
            finally:
                tfx_transform.TransformProcessor = _TFX_PROCESSOR
