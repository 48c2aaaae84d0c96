"""Reading ML Metadata: opening a store, the facts a run records, one run's outcome, lineage.

Light: nothing here imports TensorFlow or TFX, so the read-only commands stay
fast. It builds on `pipeline.shared` only; runs, reports and the CLI build on it.
"""
