"""Type names of the project's own artifacts, importable without TFX.

Kubeflow Pipelines requires custom artifact type names of the form
``namespace.Name``; the TF-free readers (summary, lineage) match on these.
"""

VALIDATION_REPORT = "taxi_tfx.ValidationReport"
EVALUATION_VERDICT = "taxi_tfx.EvaluationVerdict"

# Custom property of a ProductionBaseline's Model: 1 when it is a copy of the
# candidate because nothing was in production yet (the Verdict then reports no baseline).
STANDS_IN_FOR_CANDIDATE = "stands_in_for_candidate"
