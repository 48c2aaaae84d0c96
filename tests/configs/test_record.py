"""The configuration record a run writes, read back: paths absolute, today's validation, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from configs.record import config_from_record, config_record, flat_keys
from configs.settings import ConfigError, load_config
from pipeline.metadata import run_facts
from pipeline.run.rerun import plan_rerun


def test_the_record_holds_absolute_paths_and_loads_back_equal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a\n")
    config = load_config(None, check_paths=False,
                         values={"paths.data": Path("in.csv"), "paths.output": Path("out")})
    record = config_record(config)
    values = json.loads(record)
    assert values["paths"]["data"] == str(tmp_path / "in.csv")
    assert values["paths"]["output"] == str(tmp_path / "out")
    back = config_from_record(record, "run X")
    assert back.paths.data == tmp_path / "in.csv" and back.training == config.training


def test_a_record_that_no_longer_fits_names_the_run_and_the_key():
    values = json.loads(config_record(load_config(None, check_paths=False)))
    values["training"]["epochz"] = 3
    with pytest.raises(ConfigError, match=r"run R: .*training\.epochz: Extra inputs are not permitted"):
        config_from_record(json.dumps(values), "run R")
    with pytest.raises(ConfigError, match="run R: the recorded configuration is not JSON"):
        config_from_record("{", "run R")


def test_flat_keys_are_dotted_and_keep_lists_whole():
    assert flat_keys({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}


def test_a_run_from_before_the_record_cannot_be_rerun():
    run = pb.Context(name="2026-01-01T00:00:00")
    run.custom_properties[run_facts.CONFIG_FILE].string_value = "configs/local.yaml"
    with pytest.raises(ConfigError, match="run 2026-01-01T00:00:00 recorded no configuration"):
        plan_rerun(run)


def test_the_code_and_a_missing_data_folder_count_as_differences(tmp_path):
    config = load_config(None, check_paths=False, values={"paths.data": tmp_path / "gone",
                                                         "paths.output": tmp_path / "out"})
    run = pb.Context(name="R")
    run.custom_properties[run_facts.RESOLVED_CONFIG].string_value = config_record(config)
    run.custom_properties[run_facts.CONFIG_FILE].string_value = str(tmp_path / "deleted.yaml")
    run.custom_properties[run_facts.GIT_COMMIT].string_value = "0" * 40
    run.custom_properties[run_facts.INPUT_FILES].string_value = run_facts.input_files_record(
        {str(tmp_path / "gone" / "a.csv"): {"size": 3, "mtime_ns": 1, "sha256": "ab" * 32}})
    plan = plan_rerun(run)
    found = {(d.section, d.key): (d.recorded, d.now) for d in plan.differences}
    assert found[("code", run_facts.GIT_COMMIT)][0] == "0" * 40
    assert found[("files", str(tmp_path / "gone" / "a.csv"))] == ("3 bytes, sha256 abababababab", "-")
    assert "does not load now: config file not found" in found[("config", "(file)")][1]
    assert plan.data_changed


def test_the_notify_section_is_not_recorded():
    hook = 'notify.webhooks=[{url: "https://h.example/x?token=abc"}]'
    config = load_config(None, [hook], check_paths=False)
    record = config_record(config)
    assert "notify" not in json.loads(record) and "token=abc" not in record
