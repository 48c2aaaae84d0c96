"""What a run's outcome is rendered into: the HTML report, the terminal summary, the Prometheus textfile.

Each takes a `RunOutcome` read by `pipeline.metadata`; nothing here runs a
pipeline or imports TensorFlow.
"""
