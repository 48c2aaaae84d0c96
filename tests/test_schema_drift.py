"""The curated schema's drift thresholds hold on clean consecutive quarters and trip on real drift.

`schema drift` measures with TFDV exactly what the validation gate compares:
each span's statistics against the previous span's.
"""

from __future__ import annotations

import subprocess

import pytest

from data.generator import Drift, GeneratorSpec, generate, load_source
from data.prepare import materialise_default_data
from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.e2e
MODEL_FEATURES_AND_LABEL = {
    "fare", "trip_miles", "trip_seconds", "pickup_latitude", "pickup_longitude", "dropoff_latitude",
    "dropoff_longitude", "trip_start_hour", "trip_start_day", "pickup_community_area",
    "dropoff_community_area", "payment_type", "company", "tips",
}


def drift_table(data) -> tuple[int, dict[str, list[str]]]:
    result = subprocess.run(cli("schema", "drift", "--data", str(data)), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=600)
    lines = result.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("feature "))
    return result.returncode, {line.split()[0]: line.split() for line in lines[header + 1:] if line.strip()}


def test_every_threshold_sits_above_what_clean_quarters_measure_and_real_drift_trips_one(tmp_path):
    data = tmp_path / "taxi"
    materialise_default_data(data)
    code, rows = drift_table(data)
    assert code == 0, rows
    compared = {name for name, cells in rows.items() if cells[2] != "-"}
    # Every feature the model reads has a comparator, but the month: quarters hold other months.
    assert compared == MODEL_FEATURES_AND_LABEL
    for name in compared:
        threshold, largest = float(rows[name][2]), float(rows[name][3])
        assert largest <= threshold, f"{name}: clean quarters measured {largest} > threshold {threshold}"

    generate(GeneratorSpec(rows=600, seed=1, drift=Drift(cash_to_card=0.6)), data / "span-17", load_source())
    code, rows = drift_table(data)
    assert code == 1
    assert rows["payment_type"][-3:] == ["ABOVE", "THE", "THRESHOLD"], rows["payment_type"]
