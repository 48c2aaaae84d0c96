"""Small plain TFX pipelines, built from TFX's stock components only, for the lineage readers' tests.

They run inside the test suite on a tiny slice of the taxi CSV, so the
lineage commands and the report are checked against stores that this
project's own components never wrote (issue #32).
"""
