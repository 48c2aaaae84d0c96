"""Batched tf.Example TFRecord I/O for the Beam components (Transform, StatisticsGen).

TFX's components read and write TFRecords through Beam's Python file source and
sink: every record is framed, checksummed and handed to the next step one at a
time in Python, and the tf.Example decoding and encoding then run on the one
core that also runs the component's own work. Here a file is read by
TensorFlow's C++ reader a batch of records at a time, batches are decoded (and
encoded) on a thread per core, since tfx_bsl's coders release the GIL, and
records are written by TensorFlow's C++ writer on a thread of its own.

`read.py` is a TFXIO whose Beam source reads that way; `write.py` the sink.
"""
