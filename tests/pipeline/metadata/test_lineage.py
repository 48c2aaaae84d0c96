"""`python -m pipeline lineage ...` against a store made by real pipeline runs.

The store holds the two runs of the shared e2e fixture plus a third run here
that changes one hyperparameter (dropout), so diff has exactly one change to find.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT, RUN_OVERRIDES, cli, missing_system_package
from tests.pipeline.metadata.edges import assert_every_edge_is_recorded

pytestmark = pytest.mark.e2e
CHANGED = "training.dropout=0.25"


def lineage(store, *arguments: str, check: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(cli("lineage", *arguments, "--store", str(store)), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def lineage_json(store, *arguments: str):
    return json.loads(lineage(store, *arguments, "--json").stdout)


@pytest.fixture(scope="module")
def store(pipeline_runs, taxi_sample_dir):
    output = pipeline_runs[0]
    result = subprocess.run(
        cli("run", "--data", str(taxi_sample_dir), "--output", str(output), *RUN_OVERRIDES,
            "--set", CHANGED),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return output / "metadata.sqlite"


@pytest.fixture(scope="module")
def run_ids(store):
    runs = lineage_json(store, "runs")
    assert len(runs) >= 3
    return [run["run_id"] for run in reversed(runs)]  # oldest first


def _walk(node):
    yield node
    for child in node["children"]:
        yield from _walk(child)


def test_runs_lists_every_run_newest_first_with_status(store, run_ids):
    runs = lineage_json(store, "runs")
    assert [r["run_id"] for r in runs] == list(reversed(run_ids))
    assert runs[-1]["status"] == "complete" and runs[-1]["pushed_version"]
    assert runs[-2]["status"].startswith("complete (") and "cached" in runs[-2]["status"]
    assert "complete" in lineage(store, "runs").stdout


def test_trace_of_the_pushed_model_ends_at_the_input_data_of_its_own_run(store, taxi_sample_dir):
    pushed = json.loads(subprocess.run(cli("models", "--store", str(store), "--json"), cwd=PROJECT_ROOT,
                                       capture_output=True, text=True, check=True).stdout)[0]
    tree = lineage_json(store, "trace", "latest-pushed")
    nodes = list(_walk(tree))
    executions = [n for n in nodes if n["kind"] == "execution" and not n["seen_before"]]
    trainers = [n for n in executions if n["label"] == "Trainer"]
    example_gens = [n for n in executions if n["label"] == "CsvExampleGen"]
    assert len(trainers) == 1, "the walk must not go through the baseline into earlier runs"
    assert len(example_gens) == 1
    assert example_gens[0]["details"]["input_base"] == str(taxi_sample_dir)
    assert example_gens[0]["details"]["span"] == 0
    assert "input_fingerprint" in example_gens[0]["details"]
    expected_dropout = 0.25 if pushed["run_id"] == lineage_json(store, "runs")[0]["run_id"] else 0.1
    assert trainers[0]["details"]["training.dropout"] == expected_dropout
    assert any(n["label"] == "Schema" for n in nodes)
    # Only recorded edges: the statistics the gate read are not an input of the model's ancestry
    # (the gate holds Transform back by a control edge), so they are not upstream of it.
    assert not [n for n in nodes if n["label"] == "ExampleStatistics"]
    assert assert_every_edge_is_recorded(store, tree) >= 8
    text = lineage(store, "trace", "latest-pushed").stdout
    assert "CsvExampleGen" in text and str(taxi_sample_dir) in text


def test_downstream_trace_from_the_examples_reaches_every_model_and_push(store):
    examples = [n for n in _walk(lineage_json(store, "trace", "latest-pushed"))
                if n["label"] == "Examples" and "CsvExampleGen" in n["uri"]][0]
    downstream = list(_walk(lineage_json(store, "trace", str(examples["id"]), "--downstream")))
    assert_every_edge_is_recorded(store, downstream[0], downstream=True)
    models = {n["id"] for n in downstream if n["kind"] == "artifact" and n["label"] == "Model"}
    assert len(models) >= 2, "both trained models used these examples"
    assert any(n["label"] == "PushedModel" for n in downstream)


def test_diff_reports_exactly_the_changed_hyperparameter_and_the_metric_changes(store, run_ids):
    diff = lineage_json(store, "diff", run_ids[0], run_ids[-1])
    properties = [c for c in diff["changes"] if c["section"] == "properties"]
    assert [(c["key"], c["before"], c["after"]) for c in properties] == [
        ("Trainer.training.dropout", 0.1, 0.25)
    ]
    assert not [c for c in diff["changes"] if c["section"] == "data"]
    assert [c for c in diff["changes"] if c["section"] == "metrics" and "Overall" in c["key"]]
    assert "Trainer.training.dropout" in lineage(store, "diff", run_ids[0], run_ids[-1]).stdout


def test_why_and_show_answer_for_any_run(store, run_ids):
    why = lineage_json(store, "why", run_ids[0])
    assert why["verdict"]["checks"] and why["run_id"] == run_ids[0]
    shown = lineage_json(store, "show", run_ids[-1])
    assert {e["component"] for e in shown["executions"]} >= {"Trainer", "Evaluator", "Pusher"}


def test_graph_dot_holds_this_runs_executions_and_none_of_another_run(store, run_ids, tmp_path):
    last, first = lineage_json(store, "show", run_ids[-1]), lineage_json(store, "show", run_ids[0])
    dot = tmp_path / "run.dot"
    lineage(store, "graph", run_ids[-1], "--format", "dot", "--output", str(dot))
    text = dot.read_text()
    for execution in last["executions"]:
        assert f"e{execution['id']} " in text or f"e{execution['id']};" in text
    trainer_of_first = [e["id"] for e in first["executions"] if e["component"] == "Trainer"][0]
    assert f"e{trainer_of_first} " not in text and f"e{trainer_of_first};" not in text
    model = [a for a in last["artifacts"] if a["type"] == "Model"][0]
    assert f"a{model['id']} " in text


NO_DOT = "graphviz's dot is not installed (Debian package graphviz; make setup installs it as root)"


def test_graph_png_is_a_picture(store, run_ids, tmp_path):
    if shutil.which("dot") is None:
        missing_system_package(NO_DOT)
    png = tmp_path / "run.png"
    lineage(store, "graph", run_ids[-1], "--format", "png", "--output", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_unknown_run_is_explained(store):
    result = lineage(store, "show", "1999-01-01", check=False)
    assert result.returncode == 2, "a run that does not exist is a bad argument"
    assert "no run matches '1999-01-01'; the newest runs are" in result.stdout
    assert "Traceback" not in result.stderr


def test_an_ambiguous_prefix_lists_only_the_runs_it_matches(store, run_ids):
    prefix = run_ids[0][:4]  # the year: every run starts with it
    result = lineage(store, "show", prefix, check=False)
    assert result.returncode == 2
    line = result.stdout.strip().splitlines()[-1]
    assert f"{len(run_ids)} runs match {prefix!r}: " in line, line
    listed = line.split(": ", 2)[-1].split("; ")[0].split(", ")
    assert listed and all(name.startswith(prefix) for name in listed), listed


def test_a_store_that_is_not_sqlite_or_is_a_folder_is_named(tmp_path):
    not_sqlite = tmp_path / "notes.sqlite"
    not_sqlite.write_text("hello\n")
    for store, expected in ((not_sqlite, "is not an SQLite database"), (tmp_path, "is a folder")):
        result = subprocess.run(cli("lineage", "runs", "--store", str(store)), cwd=PROJECT_ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stdout
        assert expected in result.stdout and str(store) in result.stdout
        assert "Traceback" not in result.stdout + result.stderr


def test_every_command_answers_on_a_store_of_twenty_runs_without_tensorflow(store, run_ids, tmp_path,
                                                                            tripwire):
    from benchmarks.mlmd_replay import replay_runs

    big = tmp_path / "big.sqlite"
    shutil.copyfile(store, big)
    total = replay_runs(big, copies=6)
    assert total >= 20
    commands = [["runs"], ["show", "latest"], ["trace", "latest-pushed"], ["why", "latest"],
                ["diff", run_ids[0], run_ids[-1]], ["graph", "latest", "--output", str(tmp_path / "g.dot")]]
    # How fast they answer is measured by `make bench`; here, that they never load TensorFlow.
    for command in commands:
        assert lineage(big, *command, env=tripwire.env).stdout
        assert tripwire.tripped is None, f"lineage {' '.join(command)} imported {tripwire.tripped}"
    # Replayed (cached) runs output the same artifacts again; the trace follows their first producer.
    assert lineage_json(big, "trace", "latest-pushed") == lineage_json(store, "trace", "latest-pushed")


def at_terminal_width(command: list[str], columns: int) -> str:
    """What a real terminal `columns` wide shows (a pty of that size; colours stripped)."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r", "")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_at_80_columns_run_ids_stay_whole_and_cut_trace_lines_end_with_an_ellipsis(store, run_ids):
    runs = at_terminal_width(cli("lineage", "runs", "--store", str(store)), 80)
    for run_id in run_ids:
        assert run_id in runs, runs
    trace = at_terminal_width(cli("lineage", "trace", "latest-pushed", "--store", str(store)), 80)
    lines = [line for line in trace.splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), trace
    assert [line for line in lines if line.endswith("…")], "long lines are cut and say so"


def test_trace_in_a_pipe_cuts_no_line(store):
    tree = lineage_json(store, "trace", "latest-pushed")
    text = lineage(store, "trace", "latest-pushed").stdout
    assert "…" not in text
    for node in _walk(tree):
        if node["uri"]:
            assert node["uri"] in text


def test_diff_lists_the_anomalies_a_later_run_found(store, run_ids, tmp_path):
    """A payment type never seen before: ExampleValidator's anomaly is a row of the diff's own section."""
    from data.generator import GeneratorSpec, generate
    from data.prepare import load_source

    output = tmp_path / "copy"
    shutil.copytree(store.parent, output)
    spec = GeneratorSpec(rows=300, seed=5, defects=("new_category",))
    data = generate(spec, tmp_path / "bad", load_source())
    stopped = subprocess.run(cli("run", "--data", str(data), "--output", str(output), *RUN_OVERRIDES),
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert stopped.returncode != 0, "the gate stops the run"
    copy = output / "metadata.sqlite"
    newest = lineage_json(copy, "runs")[0]["run_id"]
    diff = lineage_json(copy, "diff", run_ids[-1], newest)
    found = [change for change in diff["changes"] if change["section"] == "anomalies"]
    payment = [change for change in found if change["key"].endswith("] payment_type")]
    assert payment and all(change["before"] is None and change["after"] for change in payment), found
    text = lineage(copy, "diff", run_ids[-1], newest).stdout
    assert "[train] payment_type" in text
