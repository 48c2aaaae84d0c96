"""The input fingerprint behind `run`'s up-to-date check: what changes it and what does not."""

from __future__ import annotations

import os

import pytest

from configs.settings import load_config
from pipeline.run import freshness
from pipeline.run.freshness import serving_state, up_to_date_run
from pipeline.run.inputs import RunInputs
from tests.conftest import PROJECT_ROOT, read_taxi_rows

CONFIG = PROJECT_ROOT / "configs" / "local.yaml"


@pytest.fixture
def data(tmp_path):
    import csv

    rows = read_taxi_rows(50)
    folder = tmp_path / "data"
    folder.mkdir()
    with open(folder / "trips.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def input_fingerprint(settings):
    return freshness.input_fingerprint(settings, RunInputs.of(settings))


def config(data, tmp_path, *overrides: str):
    return load_config(CONFIG, [f"paths.data={data}", f"paths.output={tmp_path / 'out'}", *overrides])


def test_fingerprint_is_stable_when_nothing_changed(data, tmp_path):
    assert input_fingerprint(config(data, tmp_path)) == input_fingerprint(config(data, tmp_path))


def test_fingerprint_follows_the_data_files(data, tmp_path):
    before = input_fingerprint(config(data, tmp_path))
    trips = data / "trips.csv"
    status = trips.stat()
    os.utime(trips, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    touched = input_fingerprint(config(data, tmp_path))
    assert touched != before, "a rewritten file (new mtime) must count as changed"
    (data / "more.csv").write_text(trips.read_text())
    assert input_fingerprint(config(data, tmp_path)) not in (before, touched), "a new file counts"


def test_fingerprint_follows_the_configuration_and_the_schema(data, tmp_path):
    base = input_fingerprint(config(data, tmp_path))
    assert input_fingerprint(config(data, tmp_path, "training.epochs=3")) != base
    assert input_fingerprint(config(data, tmp_path, "evaluation.min_slice_examples=10")) != base
    schema = tmp_path / "schema.pbtxt"
    schema.write_text((PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt").read_text())
    with_copy = input_fingerprint(config(data, tmp_path, f"paths.schema_file={schema}"))
    schema.write_text(schema.read_text() + "\n# edited\n")
    assert input_fingerprint(config(data, tmp_path, f"paths.schema_file={schema}")) != with_copy


def test_serving_state_ignores_folders_that_are_not_complete_versions(tmp_path):
    serving = tmp_path / "serving"
    assert serving_state(serving) == "-"
    for name in ("9", "10", ".tmp-11", "notes", "12"):
        (serving / name).mkdir(parents=True)
    for complete in ("9", "10"):
        (serving / complete / "push_record.json").write_text("{}")
    assert serving_state(serving) == "10", "12 has no push record: an incomplete push"


def test_an_empty_store_is_never_up_to_date(data, tmp_path):
    from pipeline.metadata import store as mlmd

    store = mlmd.open_store(mlmd.sqlite_connection(tmp_path / "metadata.sqlite"))
    settings = config(data, tmp_path)
    assert up_to_date_run(store, settings, input_fingerprint(settings)) is None


def test_a_pin_added_or_lifted_changes_the_serving_state(tmp_path):
    from components.versioned_pusher.versions import Pin
    from pipeline.serving.pin import remove_pin, write_pin

    serving = tmp_path / "serving"
    (serving / "10").mkdir(parents=True)
    (serving / "10" / "push_record.json").write_text("{}")
    write_pin(serving, Pin(version="10", user="ann", reason="audit", at="2026-12-04 02:00:00", action_id=5))
    assert serving_state(serving) == "10 pinned by action 5"
    remove_pin(serving)
    assert serving_state(serving) == "10"
