"""`python -m pipeline predict` with the model the shared e2e runs pushed, on rows of the taxi CSV."""

from __future__ import annotations

import csv
import shutil
import subprocess

import pytest

from pipeline.shared.layout import OutputLayout
from tests.conftest import PROJECT_ROOT, cli, read_taxi_rows, serialized_examples

pytestmark = pytest.mark.e2e
SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"


@pytest.fixture(scope="module")
def serving(pipeline_runs):
    return OutputLayout(pipeline_runs[0]).serving_dir


def write_rows(path, rows, drop: tuple[str, ...] = ()):
    columns = [name for name in rows[0] if name not in drop]
    with path.open("w", newline="", encoding="utf-8") as writer:
        out = csv.DictWriter(writer, columns, extrasaction="ignore")
        out.writeheader()
        out.writerows(rows)
    return path


def predict(serving, data, target, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(cli("predict", "--data", str(data), "--output", str(target),
                              "--set", f"paths.output={serving.parent}", *extra),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)


def test_scores_are_the_models_own_predictions_one_row_each_in_input_order(serving, tmp_path):
    import numpy as np
    import tensorflow as tf

    rows = read_taxi_rows(300, start=1000)
    version = max(int(name) for name in (p.name for p in serving.iterdir()) if name.isdigit())
    result = predict(serving, write_rows(tmp_path / "new.csv", rows, drop=("tips",)), tmp_path / "scores.csv",
                     "--model", str(version))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "300 rows in" in result.stdout and "rows/s" in result.stdout
    with (tmp_path / "scores.csv").open(encoding="utf-8") as reader:
        scores = list(csv.DictReader(reader))
    assert [int(row["row"]) for row in scores] == list(range(1, 301))
    assert [row["trip_start_timestamp"] for row in scores] == [row["trip_start_timestamp"] for row in rows]
    model = tf.saved_model.load(str(serving / str(version))).signatures["serving_default"]
    examples = serialized_examples(rows, SCHEMA, drop=("tips",))
    expected = model(examples=tf.constant(examples))["probabilities"].numpy().reshape(-1)
    np.testing.assert_allclose([float(row["probability"]) for row in scores], expected, atol=1e-6)
    assert 0.05 < float(np.mean(expected)) < 0.6, "probabilities of real rows, not a constant"


@pytest.mark.parametrize("defect", ["missing_column", "empty_required_cell", "infinite_hour"])
def test_bad_input_is_named_and_nothing_is_written(defect, serving, tmp_path):
    rows = [dict(row) for row in read_taxi_rows(20)]
    drop = ("payment_type",) if defect == "missing_column" else ()
    if defect == "empty_required_cell":
        rows[3]["fare"] = ""
    if defect == "infinite_hour":
        rows[6]["trip_start_hour"] = "inf"
    data = write_rows(tmp_path / "new.csv", rows, drop=drop)
    result = predict(serving, data, tmp_path / "scores.csv")
    assert result.returncode == 2, result.stdout + result.stderr
    expected = {"missing_column": f"{data}: missing required column(s): payment_type",
                "empty_required_cell": f"{data}: line 5, column fare: empty, but the model needs a value",
                "infinite_hour": f"{data}: line 8, column trip_start_hour: 'inf' is not an integer"}[defect]
    assert expected in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "pushed" not in result.stdout, "a scoring command has nothing to say about pushing"
    assert list(tmp_path.glob("*scores*")) == [], "no output, not even a partial one"


def test_a_folder_that_is_not_a_complete_pushed_version_is_refused(serving, tmp_path):
    version = next(path for path in serving.iterdir() if path.name.isdigit())
    copy = tmp_path / "model"
    shutil.copytree(version, copy)
    (copy / "push_record.json").unlink()  # what a push cut short leaves
    data = write_rows(tmp_path / "new.csv", read_taxi_rows(20))
    result = predict(serving, data, tmp_path / "scores.csv", "--model", str(copy))
    assert result.returncode == 2
    assert f"{copy} is not a complete pushed version" in result.stdout
    assert not (tmp_path / "scores.csv").exists()


def test_a_model_without_the_columns_signature_is_given_tf_examples(serving, tmp_path):
    """A model pushed before serving_columns existed is scored through serving_default, to the same scores."""
    import tensorflow as tf

    from trainer.export import COLUMNS_SIGNATURE, SERVING_SIGNATURE

    version = max(int(name) for name in (p.name for p in serving.iterdir()) if name.isdigit())
    loaded = tf.saved_model.load(str(serving / str(version)))
    assert COLUMNS_SIGNATURE in loaded.signatures
    older = tmp_path / "older"
    tf.saved_model.save(loaded, str(older),
                        signatures={SERVING_SIGNATURE: loaded.signatures[SERVING_SIGNATURE]})
    shutil.copy(serving / str(version) / "push_record.json", older)
    assert COLUMNS_SIGNATURE not in tf.saved_model.load(str(older)).signatures
    rows = [dict(row) for row in read_taxi_rows(200, start=2000)]
    data = write_rows(tmp_path / "new.csv", rows, drop=("tips",))
    scored = {}
    for name, model in (("columns", str(version)), ("examples", str(older))):
        result = predict(serving, data, tmp_path / f"{name}.csv", "--model", model)
        assert result.returncode == 0, result.stdout + result.stderr
        with (tmp_path / f"{name}.csv").open(encoding="utf-8") as reader:
            scored[name] = [float(row["probability"]) for row in csv.DictReader(reader)]
    assert len(scored["examples"]) == 200
    assert scored["examples"] == pytest.approx(scored["columns"], abs=1e-6)
