"""Streaming metrics that Keras does not ship."""

from __future__ import annotations

import tensorflow as tf

from trainer.keras_choice import keras


@keras.saving.register_keras_serializable(package="taxi_tfx")
class F1Score(keras.metrics.Metric):
    """Binary F1 accumulated over every batch of an epoch.

    Averaging per-batch F1 scores would be wrong (F1 is not additive), so the
    metric keeps true positive, false positive and false negative counts and
    computes F1 from them. Keras resets the counts between epochs.
    """

    def __init__(self, threshold: float = 0.5, name: str = "f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        # add_weight and TensorFlow ops: the same code under Keras 3 and tf-keras.
        self.true_positives = self.add_weight(name="tp", shape=(), initializer="zeros")
        self.false_positives = self.add_weight(name="fp", shape=(), initializer="zeros")
        self.false_negatives = self.add_weight(name="fn", shape=(), initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError("F1Score does not support sample weights")
        actual = tf.cast(tf.reshape(tf.cast(y_true, tf.float32) > 0.5, [-1]), tf.float32)
        predicted = tf.cast(tf.reshape(tf.cast(y_pred, tf.float32) > self.threshold, [-1]), tf.float32)
        self.true_positives.assign_add(tf.reduce_sum(actual * predicted))
        self.false_positives.assign_add(tf.reduce_sum((1.0 - actual) * predicted))
        self.false_negatives.assign_add(tf.reduce_sum(actual * (1.0 - predicted)))

    def result(self):
        denominator = 2.0 * self.true_positives + self.false_positives + self.false_negatives
        return tf.math.divide_no_nan(2.0 * self.true_positives, denominator)

    def reset_state(self):
        for variable in (self.true_positives, self.false_positives, self.false_negatives):
            variable.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}
