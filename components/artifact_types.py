"""Type names of the project's own artifacts, importable without TFX.

Kubeflow Pipelines requires custom artifact type names of the form
``namespace.Name``; the TF-free readers (summary, lineage) match on these.
"""

VALIDATION_REPORT = "taxi_tfx.ValidationReport"
EVALUATION_VERDICT = "taxi_tfx.EvaluationVerdict"
