"""Kubeflow Pipelines 2.x: compiling the DAG, submitting and scheduling it, and running a spec here.

`compile` turns the configuration into a KFP 2.1 YAML spec, `submit` talks to
the KFP API server, `run_spec` runs a compiled spec task by task on this
machine, and `metadata` records such a run in ML Metadata as KFP's launcher does.
"""
