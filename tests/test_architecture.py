"""The structure the code promises (docs/architecture.md), checked on the source itself.

Each rule here was broken once: a 676-line CLI module, names retyped in every
reader, benchmarks inside the runtime package.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

RUNTIME_PACKAGES = ("pipeline", "components", "trainer", "configs", "data")
ALL_PACKAGES = (*RUNTIME_PACKAGES, "benchmarks")
MAX_MODULE_LINES = 300
MAX_TOOLING_MODULE_LINES = 450
# pipeline/'s layers: what each sub-package may import of pipeline/ ("dag" is
# create_pipeline and its inputs, the only modules left at pipeline/'s top).
PIPELINE_LAYERS = {
    "shared": set(),
    "metadata": {"shared"},
    "report": {"shared", "metadata"},
    "dag": {"shared", "metadata"},
    "schema": {"shared"},
    "serving": {"shared", "metadata"},
    "kubeflow": {"shared", "metadata", "dag"},
    "run": {"shared", "metadata", "report", "dag"},
}
PIPELINE_TOP_LEVEL = {"__init__.py", "__main__.py", "pipeline.py", "pipeline_inputs.py"}
MAX_CLI_MODULE_LINES = 300
# File names that a component writes and others read: spelled in one module.
SHARED_FILE_NAMES = ("verdict.json", "validation_report.json", "training_record.json", "FeatureStats.pb",
                     "metadata.sqlite", "accepted_statistics.json", "push_record.json", "pin.json")
# Property and folder names, matched as whole strings.
SHARED_NAMES = ("stop_reason", "serving_newest", "reports", "windows", "serving",
                "trainer_backups", "schemas", "reused_existing_version",
                "pushed_destination", "pushed_version", "not_pushed_reason", "rolled_back_to")


def modules(packages=ALL_PACKAGES) -> list[Path]:
    return sorted(path for package in packages for path in (PROJECT_ROOT / package).rglob("*.py"))


def string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def pipeline_layer(module: str) -> str | None:
    """The layer of a pipeline/ module: its sub-package, "dag", or "cli" for the entry point."""
    parts = module.split(".")
    if parts[0] != "pipeline" or len(parts) == 1:
        return None
    if parts[1] in ("pipeline", "pipeline_inputs"):
        return "dag"
    return "cli" if parts[1] == "__main__" else parts[1]


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (lazy imports included)."""
    known = {module_name(path): path for path in modules(RUNTIME_PACKAGES)}
    return {name: {imported for imported in imported_modules(path) if imported in known and imported != name}
            for name, path in known.items()}


def test_no_module_is_over_the_size_limit():
    sizes = {path.relative_to(PROJECT_ROOT): len(path.read_text().splitlines()) for path in modules()}
    limit = {path: MAX_TOOLING_MODULE_LINES if path.parts[0] == "benchmarks" else MAX_MODULE_LINES
             for path in sizes}
    assert {path: lines for path, lines in sizes.items() if lines > limit[path]} == {}
    cli = {path: lines for path, lines in sizes.items() if path.parts[:2] == ("pipeline", "cli")}
    assert len(cli) >= 5
    assert {path: lines for path, lines in cli.items() if lines > MAX_CLI_MODULE_LINES} == {}


@pytest.mark.parametrize("name", SHARED_FILE_NAMES)
def test_a_shared_file_name_is_spelled_in_one_module(name):
    spelled = [str(path.relative_to(PROJECT_ROOT)) for path in modules()
               if any(name in text for text in string_constants(path))]
    assert len(spelled) == 1, f"{name!r} is spelled in {spelled}"


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_a_shared_property_or_folder_name_is_spelled_in_one_module_at_most(name):
    spelled = [str(path.relative_to(PROJECT_ROOT)) for path in modules()
               if name in string_constants(path)]
    assert len(spelled) <= 1, f"{name!r} is spelled in {spelled}"


def test_nothing_outside_the_cli_package_imports_it():
    offenders = [str(path.relative_to(PROJECT_ROOT)) for path in modules()
                 if not path.is_relative_to(PROJECT_ROOT / "pipeline" / "cli")
                 and path != PROJECT_ROOT / "pipeline" / "__main__.py"
                 and any(name == "pipeline.cli" or name.startswith("pipeline.cli.")
                         for name in imported_modules(path))]
    assert offenders == [], "readers and services must not depend on the command line"


def test_pipeline_keeps_only_the_dag_and_the_entry_point_at_its_top():
    top = {path.name for path in (PROJECT_ROOT / "pipeline").glob("*.py")}
    assert top == PIPELINE_TOP_LEVEL
    packages = {path.parent.name for path in (PROJECT_ROOT / "pipeline").glob("*/__init__.py")}
    assert packages == {*PIPELINE_LAYERS, "cli"} - {"dag"}


@pytest.mark.parametrize("package", sorted({*PIPELINE_LAYERS, "cli"} - {"dag"}))
def test_every_pipeline_sub_package_says_what_it_owns(package):
    source = (PROJECT_ROOT / "pipeline" / package / "__init__.py").read_text()
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring and len(docstring) > 40, f"pipeline/{package}/__init__.py needs a docstring"


def test_no_import_climbs_from_a_lower_layer_of_pipeline_to_a_higher_one():
    climbs = []
    for module, imported in import_graph().items():
        layer = pipeline_layer(module)
        if module.split(".")[0] in ("components", "trainer", "configs", "data"):
            climbs += [f"{module} -> {name}" for name in imported if name.split(".")[0] == "pipeline"]
        elif layer in PIPELINE_LAYERS:
            allowed = PIPELINE_LAYERS[layer] | {layer}
            climbs += [f"{module} -> {name}" for name in imported
                       if pipeline_layer(name) is not None and pipeline_layer(name) not in allowed]
    assert climbs == []


def test_there_is_no_import_cycle():
    graph = import_graph()
    cycles, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append(" -> ".join([*path[path.index(imported):], imported]))
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_tests_sit_in_the_folder_that_mirrors_the_code_they_test():
    tests = PROJECT_ROOT / "tests"
    misplaced = [str(path.relative_to(PROJECT_ROOT)) for path in tests.rglob("test_*.py")
                 if path.parent != tests and not (PROJECT_ROOT / path.parent.relative_to(tests)).is_dir()]
    assert misplaced == []
    assert sorted(path.name for path in tests.glob("test_*.py")) == ["test_architecture.py"], \
        "only the whole project's rules are tested at the top of tests/"


def test_the_runtime_never_imports_the_benchmarks():
    offenders = [str(path.relative_to(PROJECT_ROOT)) for path in modules(RUNTIME_PACKAGES)
                 if any(name.split(".")[0] == "benchmarks" for name in imported_modules(path))]
    assert offenders == []


def _handlers(parser) -> dict[str, object]:
    import argparse

    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                handler = child.get_default("handler")
                if handler is not None:
                    found[f"{parser.prog} {name}"] = handler
                found.update(_handlers(child))
    return found


def test_every_command_handler_has_one_signature():
    from pipeline.cli import build_parser

    handlers = _handlers(build_parser())
    assert len(handlers) >= 18
    signatures = {name: list(inspect.signature(handler).parameters) for name, handler in handlers.items()}
    assert {name: params for name, params in signatures.items() if params != ["args", "console"]} == {}
