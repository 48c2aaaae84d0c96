"""TFX's Transform with batched, multi-threaded TFRecord reads and writes (components/batched_io).

Same inputs, outputs, parameters and preprocessing as `tfx.components.Transform`
(TFX's TransformSpec: this component adds no spec of its own); only how the
examples are read, decoded, encoded and written differs. The analysis, the
transform graph and the transformed values are TensorFlow Transform's own.
"""
