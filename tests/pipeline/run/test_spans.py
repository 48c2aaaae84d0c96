"""Which span folders a run reads: every span, the latest, span N, or a rolling window."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from configs.settings import ConfigError, load_config
from pipeline.run.inputs import RunInputs

CONFIG = "configs/local.yaml"


@pytest.fixture
def spans(tmp_path):
    root = tmp_path / "data"
    for span in (1, 2, 3, 10):  # 10 sorts after 3 by number, before it by name
        folder = root / f"span-{span}"
        folder.mkdir(parents=True)
        (folder / "trips.csv").write_text(f"fare\n{span}\n")
    return root


def names(inputs):
    return [folder.name for folder in inputs.span_folders]


def selected_spans(path, spans, window=1):
    return RunInputs.select(path, spans, window)


def data_source(path, spans, window=1, staging=None):
    return RunInputs.select(path, spans, window).example_gen_source(staging)


def test_spans_are_chosen_in_number_order(spans):
    assert names(selected_spans(spans, "all")) == ["span-1", "span-2", "span-3", "span-10"]
    assert names(selected_spans(spans, "latest")) == ["span-10"]
    assert names(selected_spans(spans, "latest", window=3)) == ["span-2", "span-3", "span-10"]
    assert names(selected_spans(spans, 3, window=2)) == ["span-2", "span-3"]
    assert names(selected_spans(spans, 2, window=5)) == ["span-1", "span-2"], "cut at the first span"
    with pytest.raises(FileNotFoundError, match="span-7"):
        selected_spans(spans, 7)
    assert selected_spans(spans, "latest", window=3).span_label == "span-2..span-10"
    assert selected_spans(spans, 2).span_label == "span-2"


def test_a_single_span_uses_example_gens_span_pattern(spans, tmp_path):
    assert data_source(spans, "latest") == (str(spans), "span-{SPAN}/*.csv")
    assert data_source(spans, "all") == (str(spans), "span-*/*.csv")


def test_a_window_is_staged_as_links_to_exactly_its_files(spans, tmp_path):
    staging = tmp_path / "windows"
    root, pattern = data_source(spans, "latest", window=2, staging=staging)
    staged = sorted(p.relative_to(root).as_posix() for p in Path(root).glob(pattern))
    assert staged == ["span-10/trips.csv", "span-3/trips.csv"]
    source = spans / "span-10" / "trips.csv"
    assert os.path.samefile(f"{root}/span-10/trips.csv", source), "linked, not copied"
    assert not list(staging.glob(".*partial")), "no half-built window left behind"
    # Unchanged files: the same folder, so ExampleGen's cache holds.
    assert data_source(spans, "latest", window=2, staging=staging)[0] == root
    # A span rewritten (new file, new size): a new folder with the new content.
    source.unlink()
    source.write_text("fare\n10\n11\n")
    changed = data_source(spans, "latest", window=2, staging=staging)[0]
    assert changed != root
    assert (staging / changed / "span-10" / "trips.csv").read_text() == "fare\n10\n11\n"
    assert [f.name for f in selected_spans(spans, "latest", window=2).paths] == ["trips.csv", "trips.csv"]


def test_a_window_over_every_span_is_rejected():
    with pytest.raises(ConfigError, match="window: 3 needs spans: latest"):
        load_config(CONFIG, overrides=["window=3"], check_paths=False)
    assert load_config(CONFIG, overrides=["window=3", "spans=latest"], check_paths=False).window == 3
