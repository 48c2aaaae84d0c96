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
MAX_MODULE_LINES = 450
MAX_CLI_MODULE_LINES = 300
# File names that a component writes and others read: spelled in one module.
SHARED_FILE_NAMES = ("verdict.json", "validation_report.json", "training_record.json", "FeatureStats.pb",
                     "metadata.sqlite", "accepted_statistics.json", "push_record.json")
# Property and folder names, matched as whole strings.
SHARED_NAMES = ("stop_reason", "serving_newest", "reports", "windows", "serving",
                "trainer_backups", "schemas", "reused_existing_version",
                "pushed_destination", "pushed_version")


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


def test_no_module_is_over_the_size_limit():
    sizes = {path.relative_to(PROJECT_ROOT): len(path.read_text().splitlines()) for path in modules()}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
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
