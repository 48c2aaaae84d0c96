"""The curated schema's drift thresholds hold on clean consecutive quarters and trip on real drift.

`schema drift` measures with TFDV exactly what the validation gate compares:
each span's statistics against the previous span's.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from data.checks import load_schema
from data.generator import Drift, GeneratorSpec, generate
from data.prepare import load_source, materialise_default_data
from data.spans import span_folders
from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.e2e
SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"
MODEL_FEATURES_AND_LABEL = {
    "fare", "trip_miles", "trip_seconds", "pickup_latitude", "pickup_longitude", "dropoff_latitude",
    "dropoff_longitude", "trip_start_hour", "trip_start_day", "pickup_community_area",
    "dropoff_community_area", "payment_type", "company", "tips",
}


@pytest.fixture(scope="module")
def quarters(tmp_path_factory):
    data = tmp_path_factory.mktemp("taxi")
    materialise_default_data(data)
    return data


def test_every_threshold_sits_above_what_clean_consecutive_quarters_measure(quarters):
    from pipeline.schema.inference import consecutive_drift

    rows = {row.feature: row for row in consecutive_drift(span_folders(quarters), load_schema(SCHEMA))}
    compared = {name for name, row in rows.items() if row.threshold is not None}
    # Every feature the model reads has a comparator, but the month: quarters hold other months.
    assert compared == MODEL_FEATURES_AND_LABEL
    assert rows["trip_start_month"].largest == pytest.approx(1.0)
    for name in compared:
        row = rows[name]
        assert row.within, f"{name}: clean quarters measured {row.largest} > threshold {row.threshold}"


def test_the_command_flags_a_drifted_span(quarters, tmp_path):
    data = tmp_path / "spans"
    shutil.copytree(span_folders(quarters)[-1], data / "span-16")
    generate(GeneratorSpec(rows=600, seed=1, drift=Drift(cash_to_card=0.6)), data / "span-17", load_source())
    result = subprocess.run(cli("schema", "drift", "--data", str(data)), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("payment_type ")]
    assert line.endswith("span-16 → span-17  ABOVE THE THRESHOLD"), line
    # Every feature of the schema is either measured or named as not measured; TFDV's noise is in the log.
    lines = result.stdout.splitlines()
    measured = {line.split()[0] for line in lines[2:] if line and not line.startswith("not measured")}
    [unmeasured] = [line for line in lines if line.startswith("not measured")] or [""]
    named = set(unmeasured.partition(": ")[2].split(", ")) - {""}
    assert measured | named == {feature.name for feature in load_schema(SCHEMA).feature}
    assert not measured & named
    assert "WARNING" not in result.stdout + result.stderr and "tensorflow" not in result.stderr.lower()
