"""The Kubeflow variant: the compiled spec, and compiled tasks run as KFP would start them.

No cluster exists here. The spec tests prove what the API server would be
given; the task tests prove that the spec's commands, dotted paths and
arguments work in an environment like the image (this one), with local
folders in place of object storage.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from configs.settings import ConfigError, load_config
from data.generator import GeneratorSpec, generate
from data.prepare import load_source
from tests.conftest import PROJECT_ROOT

IMAGE = "registry.example.com/taxi-tfx@sha256:" + "ab" * 32
SECRETS = {"TAXI_TFX_METADATA_PASSWORD": "mlmd-password-sentinel", "KFP_TOKEN": "kfp-token-sentinel"}
EXPECTED_UPSTREAM = {
    "CsvExampleGen": [],
    "ImportSchemaGen": [],
    "StatisticsGen": ["CsvExampleGen"],
    "ExampleValidator": ["ImportSchemaGen", "StatisticsGen"],
    "ValidationGate": ["ExampleValidator", "ImportSchemaGen", "StatisticsGen"],
    "Transform": ["CsvExampleGen", "ImportSchemaGen", "ValidationGate"],
    "Trainer": ["ImportSchemaGen", "Transform"],
    "ProductionBaseline": ["Trainer"],
    "Evaluator": ["CsvExampleGen", "ProductionBaseline", "Trainer"],
    "Verdict": ["Evaluator", "ProductionBaseline", "Trainer"],
    "Pusher": ["Trainer", "Verdict"],
}


def kubeflow_config(root, **extra):
    overrides = {
        "kubeflow.image": IMAGE,
        "kubeflow.pipeline_root": str(root / "pipeline_root"),
        "kubeflow.data": str(root / "data"),
        "kubeflow.serving_dir": str(root / "serving"),
        "kubeflow.state_dir": str(root / "state"),
        "kubeflow.schema_file": str(PROJECT_ROOT / "schemas/taxi/schema.pbtxt"),
        "training.epochs": "1",
        **extra,
    }
    return load_config(PROJECT_ROOT / "configs/kubeflow.yaml", [f"{k}={v}" for k, v in overrides.items()],
                       check_paths=False)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The pipeline compiled twice (for determinism) with secrets in the environment."""
    from pipeline.kubeflow.compile import compile_pipeline

    root = tmp_path_factory.mktemp("kubeflow")
    source = load_source()
    for span in (1, 2):
        generate(GeneratorSpec(rows=400, seed=span), root / "data" / f"span-{span}", source)
    saved = {key: os.environ.get(key) for key in SECRETS}
    os.environ.update(SECRETS)
    try:
        config = kubeflow_config(root)
        first = compile_pipeline(config, root / "first.yaml")
        second = compile_pipeline(config, root / "second.yaml")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return root, first, second


@pytest.mark.unit
def test_spec_is_a_kfp_2_1_pipeline_with_the_image_on_every_task(compiled):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    root, first, _ = compiled
    raw = yaml.safe_load(first.path.read_text())
    spec = json_format.ParseDict(raw, pipeline_spec_pb2.PipelineSpec())  # raises on unknown fields
    assert spec.schema_version == "2.1.0"
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", spec.pipeline_info.name)
    assert spec.default_pipeline_root == str(root / "pipeline_root")
    executors = raw["deploymentSpec"]["executors"]
    assert set(executors) == {f"{task}_executor" for task in EXPECTED_UPSTREAM}
    for name, executor in executors.items():
        assert set(executor) == {"container"}, f"{name} is not a container (importer or resolver?)"
        container = executor["container"]
        assert container["image"] == IMAGE
        assert container["command"][-1] == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
    assert first.tasks == EXPECTED_UPSTREAM
    assert not any("resolver" in task.lower() for task in first.tasks)


@pytest.mark.unit
def test_spec_holds_no_secret_and_stateful_tasks_are_never_cached(compiled):
    _, first, _ = compiled
    text = first.path.read_text()
    for secret in SECRETS.values():
        assert secret not in text
    tasks = yaml.safe_load(text)["root"]["dag"]["tasks"]
    for stateful in ("CsvExampleGen", "ProductionBaseline", "ValidationGate", "Pusher"):
        assert tasks[stateful]["cachingOptions"] == {"enableCache": False}, stateful
    assert tasks["Trainer"]["cachingOptions"] == {"enableCache": True}


@pytest.mark.unit
def test_compiling_twice_gives_the_same_bytes(compiled):
    _, first, second = compiled
    assert first.path.read_bytes() == second.path.read_bytes()


@pytest.mark.unit
def test_an_unpinned_image_is_rejected(tmp_path):
    for image in ("registry.example.com/taxi-tfx", "registry.example.com/taxi-tfx:latest"):
        with pytest.raises(ConfigError, match="kubeflow.image"):
            kubeflow_config(tmp_path, **{"kubeflow.image": image})



def trainer_custom_config(raw_spec: dict) -> dict:
    parameters = raw_spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    return json.loads(parameters["custom_config"]["runtimeValue"]["constant"])


@pytest.mark.unit
def test_with_workers_the_compiled_trainer_creates_a_tfjob_of_the_pipelines_image(compiled, tmp_path):
    from pipeline.kubeflow.compile import compile_pipeline

    root, first, _ = compiled
    assert "launcher" not in trainer_custom_config(yaml.safe_load(first.path.read_text()))
    config = kubeflow_config(root, **{"training.workers": "3", "kubeflow.tfjob_namespace": "team-a",
                                      "kubeflow.tfjob_gpus_per_worker": "2"})
    spec = compile_pipeline(config, tmp_path / "workers.yaml")
    custom = trainer_custom_config(yaml.safe_load(spec.path.read_text()))
    assert custom["training"]["workers"] == 3
    assert custom["launcher"] == {"kind": "tfjob", "image": IMAGE, "namespace": "team-a",
                                  "kubernetes_api": None, "gpus_per_worker": 2}


def dotted_paths(spec: dict) -> set[str]:
    """Every Python path a task resolves at run time: executor classes, user functions, artifact types."""
    paths = set()
    for executor in spec["deploymentSpec"]["executors"].values():
        args = executor["container"]["args"]
        paths.add(args[args.index("--executor_class_path") + 1])
    for task in spec["root"]["dag"]["tasks"].values():
        for name in ("run_fn", "preprocessing_fn"):
            if name in task["inputs"].get("parameters", {}):
                paths.add(task["inputs"]["parameters"][name]["runtimeValue"]["constant"])
    titles = re.findall(r"title: ([\w.]+)", yaml.safe_dump(spec))
    return paths | {title for title in titles if not title.startswith("tfx.")}


@pytest.mark.unit
def test_the_installed_package_holds_every_dotted_path_of_the_spec(compiled, tmp_path):
    """What `pip install .` puts in the image resolves every path the spec names."""
    import subprocess
    import sys
    import zipfile

    _, first, _ = compiled
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(PROJECT_ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    modules = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
               for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    project_paths = {p for p in dotted_paths(yaml.safe_load(first.path.read_text()))
                     if not p.startswith("tfx.")}
    assert {"trainer.run.run_fn", "components.ValidationReport",
            "components.production_baseline.executor.Executor"} <= project_paths
    for path in project_paths:
        module = path.rsplit(".", 1)[0]
        assert module in modules, f"{path}: module {module} is not in {wheel.name}"


@pytest.mark.unit
def test_dockerfile_copies_what_exists_and_pins_its_inputs():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M).group(1)
    assert re.fullmatch(r"python:3\.10\.\d+-slim-bookworm", base), "a patch release on bookworm"
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for item in source.split():
            assert (PROJECT_ROOT / item).exists(), f"COPY {item}: not in the repository"
    assert "-r requirements.lock" in dockerfile
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    makefile_uv = re.search(r"^UV_VERSION\s*:=\s*(\S+)", makefile, re.M).group(1)
    assert f"uv=={makefile_uv}" in dockerfile, "the image uses the uv version the Makefile uses"
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".venv", "outputs", "data/taxi"} <= set(ignored)
