"""Custom TFX components of this project.

The artifact classes are reachable as ``components.ValidationReport`` and
``components.EvaluationVerdict`` because on Kubeflow TFX imports an artifact
class by its type name. They are imported on first access only, so importing
this package stays free of TFX.
"""

_ARTIFACT_CLASSES = {
    "ValidationReport": "components.validation_gate.spec",
    "EvaluationVerdict": "components.verdict.spec",
}


def __getattr__(name: str):
    if name in _ARTIFACT_CLASSES:
        import importlib

        return getattr(importlib.import_module(_ARTIFACT_CLASSES[name]), name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
