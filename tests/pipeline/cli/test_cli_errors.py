"""Every command's help, and the mistakes people make with each, as a newcomer meets them.

Each case runs the real command line in this process on real files and
folders: a missing file, a folder where a file belongs, a file where a folder
belongs, and a bad value. Each ends with the documented exit code
(docs/commands.md), a last line that names the thing and the problem, no
traceback, and nothing new in the working folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from configs.settings import DEFAULT_CONFIG
from pipeline.cli import build_parser, main
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

EXIT_USAGE = 2


def commands(parser: argparse.ArgumentParser, prefix=()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if child.get_default("handler") is not None:
                    found[(*prefix, name)] = child
                found.update(commands(child, (*prefix, name)))
    return found


COMMANDS = commands(build_parser())


def shown(value) -> str:
    """A default as its help should spell it."""
    if isinstance(value, Path) and value.is_absolute():
        return str(value.relative_to(PROJECT_ROOT)) if value.is_relative_to(PROJECT_ROOT) else str(value)
    return str(value)


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_every_argument_has_help_that_names_its_default(command):
    if command == ("bench",):  # hands every argument to python -m benchmarks, which has its own help
        return
    for action in COMMANDS[command]._actions:
        if action.dest == "help":
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{' '.join(command)} {name} has no help text"
        if action.default not in (None, False, [], 0.0) and action.default is not argparse.SUPPRESS:
            assert "default" in action.help, f"{' '.join(command)} {name}: help does not name its default"
            if isinstance(action.default, (str, Path)):
                assert shown(action.default) in action.help, \
                    f"{' '.join(command)} {name}: help names another default than {shown(action.default)}"


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_every_command_answers_help(command, capsys):
    if command == ("bench",):
        return
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m pipeline {' '.join(command)}")


@pytest.fixture
def place(tmp_path):
    """Real things to name wrongly: a folder, a text file that is no CSV or store, a path to nothing."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("not what you think\n")
    return {"dir": folder, "text": text, "missing": tmp_path / "missing.csv", "out": tmp_path / "out",
            "tmp": tmp_path}


# (arguments with {dir}, {text}, {missing}, {out} to fill in, expected text in the last line)
CASES = [
    ("run --data {missing} --output {out}", "--data: no such file or folder: {missing}"),
    ("run --config {missing}", "config file not found: {missing}"),
    ("run --config {dir}", "config file {dir} is a folder"),
    ("run --set training.epocs=3 --output {out}", "--set training.epocs=3: training.epocs: unknown key"),
    ("run --set training.epochs=ten --output {out}", "--set training.epochs=ten: training.epochs: "),
    ("run --set training.workers=0 --output {out}",
     "--set training.workers=0: training.workers: Input should be greater than or equal to 1"),
    ("check-config --set training.epochs", "override 'training.epochs' must look like dotted.key=value"),
    ("simulate --data {missing} --output {out}", "--data: no such file or folder: {missing}"),
    ("schema infer --data {missing}", "--data: no such file or folder: {missing}"),
    ("schema drift --data {missing}", "--data: no such file or folder: {missing}"),
    ("data --destination {text}", "--destination {text}: a file; give the folder"),
    ("why --store {missing}", "no metadata store at {missing}"),
    ("why --store {dir}", "{dir} is a folder"),
    ("models --store {text}", "{text} is not an SQLite database"),
    ("report --store {missing}", "no metadata store at {missing}"),
    ("report --store {text}", "{text} is not an SQLite database"),
    ("lineage runs --store {dir}", "{dir} is a folder"),
    ("lineage show --store {missing}", "no metadata store at {missing}"),
    ("lineage trace latest-pushed --store {missing}", "no metadata store at {missing}"),
    ("lineage diff a b --store {missing}", "no metadata store at {missing}"),
    ("lineage graph --output {tmp}/g.txt --store {missing}", "give --format (dot, svg or png)"),
    ("lineage graph --output {dir} --store {missing}", "--output {dir}: a folder"),
    ("lineage graph --format png --output {tmp}/g.svg", "--format png does not match --output"),
    ("lineage why --store mysql//nowhere", "no metadata store at mysql/nowhere"),
    ("predict --data {missing} --output {tmp}/p.csv", "--data {missing}: no such file"),
    ("predict --data {dir} --output {tmp}/p.csv", "--data {dir}: a folder; give a CSV file"),
    ("predict --data {text} --output {dir}", "--output {dir}: a folder"),
    ("predict --data {text} --output {tmp}/p.csv --model 123 --set paths.output={out}",
     "--model 123: no such version in {out}/serving; its complete versions: none yet"),
    ("compile --config {missing}", "config file not found: {missing}"),
    ("submit --package {missing} --host http://127.0.0.1:9", "--package {missing}: no such file"),
    ("schedule --package {missing} --host http://127.0.0.1:9 --name n --cron '0 2 * * *'",
     "--cron '0 2 * * *' has 5 fields; KFP needs 6"),
    ("schedule --package {missing} --host http://127.0.0.1:9 --name n --every soon",
     "--every 'soon': use a positive number"),
    ("run-spec {missing} --root {out}", "cannot read {missing}"),
    ("run-spec {text} --root {out}", "{text}: not a compiled pipeline spec"),
    ("lineage runs --limit many", "argument --limit: invalid int value: 'many'"),
    ("lineage graph --format gif --output {tmp}/g.gif", "argument --format: invalid choice: 'gif'"),
]


@pytest.mark.parametrize(("arguments", "expected"), CASES, ids=[case[0].split(" {")[0] for case in CASES])
def test_a_mistake_ends_in_one_line_naming_it_and_exit_code_2(arguments, expected, place, capsys,
                                                               monkeypatch):
    import shlex

    monkeypatch.chdir(place["tmp"])
    before = sorted(path.relative_to(place["tmp"]) for path in place["tmp"].rglob("*"))
    argv = [part.format(**place) for part in shlex.split(arguments)]
    if argv[0] in ("compile", "submit", "schedule") and "--config" not in argv:
        argv += ["--config", str(PROJECT_ROOT / "configs" / "kubeflow.yaml")]
    elif "--config" not in argv and argv[0] not in ("run-spec", "data"):
        argv += ["--config", str(DEFAULT_CONFIG)]
    try:
        code = main(argv)
    except SystemExit as done:  # argparse's own errors
        code = done.code
    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == EXIT_USAGE, text
    assert lines and expected.format(**place) in lines[-1], text
    assert "Traceback" not in text
    after = sorted(path.relative_to(place["tmp"]) for path in place["tmp"].rglob("*"))
    assert after == before, "a refused command left files behind"


@pytest.mark.parametrize("problem", ["too many workers", "a port in use"])
def test_training_workers_the_machine_cannot_run_stop_the_run_before_anything_starts(problem, tmp_path):
    """The pre-flight check, in the project folder (the default data and schema), exit 2, nothing written."""
    import socket
    import subprocess

    from data.prepare import packaged_taxi_csv
    from tests.conftest import cli

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = (["--set", "training.workers=200"] if problem == "too many workers"
                    else ["--set", "training.workers=2", "--set", f"training.worker_port={port}"])
        ran = subprocess.run(cli("run", "--data", str(packaged_taxi_csv()), "--output", str(tmp_path / "out"),
                                 *settings), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    last = (ran.stdout + ran.stderr).strip().splitlines()[-1]
    assert ran.returncode == 2, ran.stdout + ran.stderr
    expected = ("training.workers=200: this machine holds at most " if problem == "too many workers"
                else f"training.worker_port={port}: port {port} is in use")
    assert expected in last and "Traceback" not in ran.stderr
    assert not (tmp_path / "out").exists()
