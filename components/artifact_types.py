"""Type names of the project's own artifacts, importable without TFX.

On Kubeflow, TFX's container entrypoint rebuilds each artifact's Python class
from its type name, read as an import path ``<module>.<Class>``, and KFP wants
a schema title of the form ``namespace.Name`` (lower-case namespace of 3 to 21
characters). ``components.ValidationReport`` is both: the ``components``
package resolves these names lazily (see components/__init__.py). The TF-free
readers (summary, lineage) match on these strings.
"""

VALIDATION_REPORT = "components.ValidationReport"
EVALUATION_VERDICT = "components.EvaluationVerdict"

# Custom property of a ProductionBaseline's Model: 1 when it is a copy of the
# candidate because nothing was in production yet (the Verdict then reports no baseline).
STANDS_IN_FOR_CANDIDATE = "stands_in_for_candidate"
