"""Datasets over Transform's output splits, as the Trainer and the Tuner read them.

`make_dataset` batches a split as (model inputs, label), repeated without end;
`count_examples` counts a split so that steps follow the data; `steps_for`
turns a count into steps of one epoch.
"""

from __future__ import annotations

import math

import tensorflow as tf
from tfx_bsl.public import tfxio

from trainer.features import LABEL_KEY
from trainer.tfrecords import count_gzip_records


def steps_for(examples: int, global_batch: int, cap: int | None) -> int:
    """Steps of one epoch over a split, reading at most `cap` examples (None: all of them)."""
    if cap is not None:
        examples = min(examples, cap)
    return max(1, math.ceil(examples / global_batch))


def make_dataset(file_pattern, data_accessor, schema, batch_size: int, seed: int | None,
                 inputs: list[str]):
    """Batches of (model inputs, label), repeated; shuffled when a seed is given."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=LABEL_KEY,
            shuffle=seed is not None,
            shuffle_seed=seed,
            num_epochs=None,
        ),
        schema,
    )
    # Transform also emits evaluation-only features (slice buckets); the model takes its inputs.
    dataset = dataset.map(lambda features, label: ({name: features[name] for name in inputs}, label))
    options = tf.data.Options()
    # Shard by element (DATA): each worker keeps every N-th element, so each
    # example is trained on by one worker per epoch; the same shuffle seed on
    # every worker keeps their orders equal. Not FILE (what AUTO picks for
    # TFRecords): Transform writes as many files as Beam chose, one on the taxi
    # data, and file sharding fails with fewer files than workers. With one
    # process it is a no-op and each replica takes its share of a global batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def count_examples(file_pattern, data_accessor, schema) -> int:
    """Counts the examples of a split in one pass, so steps follow the data size.

    Gzipped TFRecord files (what Transform writes) are counted by their
    framing alone (trainer/tfrecords.py); anything else is read through tf.data.
    """
    framed = count_gzip_records(file_pattern)
    if framed is not None:
        return framed
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=4096, num_epochs=1, shuffle=False),
        schema,
    )
    return int(dataset.reduce(0, lambda count, batch: count + tf.shape(batch[LABEL_KEY])[0]))
