"""`schema infer` compares what TFDV infers from data with the curated schema."""

from __future__ import annotations

import subprocess

import pytest

from data.checks import load_schema
from data.prepare import load_source
from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.unit
SCHEMA = PROJECT_ROOT / "schemas" / "taxi" / "schema.pbtxt"


def test_the_default_data_matches_the_curated_schema(taxi_sample_dir):
    from pipeline.schema.inference import compare, infer_from_csv

    inferred, statistics = infer_from_csv(str(taxi_sample_dir / "data.csv"))
    assert compare(load_schema(SCHEMA), inferred, statistics) == []


def test_a_new_column_and_new_values_are_reported_by_the_command(tmp_path):
    frame = load_source().head(500).copy()
    frame["surge_multiplier"] = "2"
    frame.loc[3, "payment_type"] = "Bitcoin"
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = subprocess.run(cli("schema", "infer", "--data", str(tmp_path / "data.csv")),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "surge_multiplier: new column — INT in the data, not in the schema" in result.stdout
    assert "payment_type: new values — Bitcoin" in result.stdout


def test_a_dropped_column_is_reported(tmp_path):
    from pipeline.schema.inference import compare, infer_from_csv

    load_source().head(500).drop(columns=["company"]).to_csv(tmp_path / "data.csv", index=False)
    inferred, statistics = infer_from_csv(str(tmp_path / "data.csv"))
    lines = [d.one_line() for d in compare(load_schema(SCHEMA), inferred, statistics)]
    assert lines == ["company: missing column — in the schema, not in the data"]
