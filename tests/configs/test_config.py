"""Configuration errors fail fast, name the key or path, and never import TensorFlow."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from configs.settings import DEFAULT_CONFIG, ConfigError, load_config
from pipeline.shared.layout import OutputLayout
from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.unit


def test_bundled_config_is_valid():
    config = load_config(DEFAULT_CONFIG, check_paths=False)
    assert config.training.epochs >= 1
    assert "payment_type" in config.features.string_categorical
    assert OutputLayout.of(config).metadata_file.name == "metadata.sqlite"


def test_override_changes_one_value_with_its_yaml_type():
    config = load_config(DEFAULT_CONFIG, ["training.epochs=3", "training.hidden_units=[8, 4]"],
                         check_paths=False)
    assert config.training.epochs == 3
    assert config.training.hidden_units == [8, 4]


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    text = DEFAULT_CONFIG.read_text().replace("  epochs: 12", "  epocs: 12")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"training\.epocs: unknown key"):
        load_config(path, check_paths=False)


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"training\.epochs: .*integer.*'ten'"):
        load_config(DEFAULT_CONFIG, ["training.epochs=ten"], check_paths=False)


def test_missing_required_section_is_named(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text(textwrap.dedent("""\
        paths: {data: data, output: out}
        evaluation: {thresholds: [{metric: auc, lower_bound: 0.5}]}
        """))
    with pytest.raises(ConfigError, match=r"features: required key is missing"):
        load_config(path, check_paths=False)


def test_missing_data_path_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    expected = rf"^--set paths\.data={missing}: no such file or folder: {missing}$"
    with pytest.raises(ConfigError, match=expected):
        load_config(DEFAULT_CONFIG, [f"paths.data={missing}"])
    file = tmp_path / "mine.yaml"
    file.write_text(f"extends: {DEFAULT_CONFIG}\npaths:\n  data: {missing}\n")
    with pytest.raises(ConfigError, match=rf"mine\.yaml: paths\.data: no such file or folder: {missing}"):
        load_config(file)


def test_a_bad_override_is_blamed_on_the_override_and_a_bad_file_value_on_the_file(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config(DEFAULT_CONFIG, ["training.epocs=3"], check_paths=False)
    assert str(raised.value) == "--set training.epocs=3: training.epocs: unknown key"
    file = tmp_path / "mine.yaml"
    file.write_text(f"extends: {DEFAULT_CONFIG}\ntraining:\n  epochs: ten\n")
    with pytest.raises(ConfigError) as raised:
        load_config(file, ["training.epocs=3"], check_paths=False)
    lines = str(raised.value).splitlines()
    assert lines[0].endswith("mine.yaml: invalid configuration"), lines
    assert any(line.strip().startswith("training.epochs:") and "(from" not in line for line in lines), lines
    assert "  training.epocs: unknown key (from --set training.epocs=3)" in lines


def test_label_declared_as_feature_is_rejected():
    with pytest.raises(ConfigError, match="label column 'tips' is also declared as a feature"):
        load_config(DEFAULT_CONFIG, ["features.numeric=[fare, tips]"], check_paths=False)


def test_no_threshold_is_rejected_because_nothing_could_be_blessed():
    with pytest.raises(ConfigError, match=r"evaluation\.thresholds: .*at least one threshold"):
        load_config(DEFAULT_CONFIG, ["evaluation.thresholds=[]"], check_paths=False)


def test_malformed_override_is_explained():
    with pytest.raises(ConfigError, match="must look like dotted.key=value"):
        load_config(DEFAULT_CONFIG, ["training.epochs"], check_paths=False)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--set", "training.epochs=ten"], "training.epochs"),
        (["--set", "training.epocs=3"], "training.epocs: unknown key"),
        (["--data", "/no/such/taxi.csv"], "--data: no such file or folder: /no/such/taxi.csv"),
    ],
)
def test_run_command_fails_fast_before_importing_tensorflow(arguments, expected, tripwire):
    result = subprocess.run(cli("run", *arguments), cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60, env=tripwire.env)
    assert result.returncode == 2
    assert expected in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert tripwire.tripped is None, f"{tripwire.tripped} was imported before the error"


def test_config_loading_imports_no_tensorflow():
    code = ("import sys; from configs.settings import load_config; load_config(check_paths=False); "
            "import pipeline.cli, pipeline.metadata.store, pipeline.report.summary, "
            "pipeline.metadata.outcome, pipeline.metadata.lineage, pipeline.report.page, "
            "pipeline.run.service, pipeline.run.inputs, "
            "pipeline.metadata.trace_view, pipeline.shared.layout; "
            "print(sorted(m for m in ('tensorflow', 'tfx', 'apache_beam') if m in sys.modules))")
    result = subprocess.run([*cli()[:1], "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_command_line_paths_and_plain_values_are_never_read_as_yaml(tmp_path):
    """`--output "/tmp/x #2"` once wrote to /tmp/x: the value went through YAML, where # starts a comment."""
    odd = tmp_path / "x #2"
    result = subprocess.run(cli("check-config", "--output", str(odd), "--set", "pipeline_name=a: b",
                                "--set", "training.epochs=3"),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, "pipeline_name 'a: b' is a string now, and the pattern rejects it"
    assert "pipeline_name" in result.stdout and "'a: b'" in result.stdout
    config = load_config(DEFAULT_CONFIG, ["training.hidden_units=[8, 4]", "label.column=tips #1"],
                         check_paths=False, values={"paths.output": odd})
    assert config.paths.output == odd
    assert config.label.column == "tips #1" and config.training.hidden_units == [8, 4]


def test_an_unexpected_error_is_one_line_with_a_file_for_the_details(tmp_path, tripwire):
    from data.prepare import write_sample

    data = write_sample(tmp_path / "data", 50)
    # Importing TensorFlow fails in this environment: a stand-in for any bug or broken install.
    command = cli("run", "--data", str(data), "--output", str(tmp_path / "out"))
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                            env=tripwire.env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("unexpected error: ")]
    assert "ImportError: tensorflow must not be imported by this command" in line
    details = Path(line.split("(details: ")[1].rstrip(")"))
    assert "Traceback (most recent call last)" in details.read_text()


def test_an_unexpected_error_whose_details_file_cannot_be_written_still_shows_the_traceback(
        tmp_path, tripwire):
    """Where the details file is refused (another user's folder), the error must not be lost."""
    from data.prepare import write_sample

    data = write_sample(tmp_path / "data", 50)
    temp = tmp_path / "tmp"
    temp.mkdir()
    (temp / f"taxi-tfx-errors-{os.getuid()}").write_text("a file where the folder would go")
    command = cli("run", "--data", str(data), "--output", str(tmp_path / "out"))
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                            env={**tripwire.env, "TMPDIR": str(temp)})
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("unexpected error: ")]
    assert "ImportError: tensorflow must not be imported by this command" in line
    assert "could not be written" in line and "the traceback is on stderr" in line
    assert "Traceback (most recent call last)" in result.stderr
