"""`python -m pipeline simulate` over four small generated spans, the third one drifted."""

from __future__ import annotations

import re
import subprocess

import pytest

from data.generator import Drift, GeneratorSpec, generate
from data.prepare import load_source
from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, cli, store_of

pytestmark = pytest.mark.e2e


def test_a_drifted_span_is_stopped_and_the_spans_after_it_still_run(tmp_path):
    source = load_source()
    for span, drift in [(1, Drift()), (2, Drift()), (3, Drift(cash_to_card=0.6)), (4, Drift())]:
        generate(GeneratorSpec(rows=500, seed=span, drift=drift), tmp_path / "data" / f"span-{span}", source)
    result = subprocess.run(
        cli("simulate", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "out"),
            "--set", "training.epochs=2", "--set", "evaluation.slice_thresholds=[]",
            "--set", "evaluation.thresholds=[{metric: auc, lower_bound: 0.5}]"),
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Span lines: span number, then row count, then the rest.
    lines = {match.group(1): line for line in result.stdout.splitlines()
             if (match := re.match(r"^\s*(\d+)\s+(\d+)\s", line))}
    assert sorted(lines) == ["1", "2", "3", "4"]
    assert "stopped: payment_type: Drift from the previous data" in lines["3"]
    for span in ("1", "2", "4"):
        assert lines[span].rstrip().endswith("pass"), lines[span]

    store = store_of(tmp_path / "out")
    runs = list(reversed(mlmd.pipeline_runs(store)))  # oldest first
    assert len(runs) == 4, "one run per span in one store"
    states = [{e.component: e.state for e in mlmd.component_executions(store, run)} for run in runs]
    assert states[2]["ValidationGate"] == "FAILED" and "Transform" not in states[2]
    assert states[3]["Trainer"] == "COMPLETE"
    spans = [mlmd.custom_value(run_examples, "span") for run_examples in
             (mlmd.artifacts_of_type(mlmd.output_artifacts(store, [e.execution.id for e in
              mlmd.component_executions(store, run) if e.component == "CsvExampleGen"]), "Examples")[0]
              for run in runs)]
    assert spans == [1, 2, 3, 4]
    assert [mlmd.custom_value(run, "data_spans") for run in runs] == ["span-1", "span-2", "span-3", "span-4"]


    # The report of the stopped span says where and why it stopped.
    from bs4 import BeautifulSoup

    from pipeline.shared.layout import OutputLayout

    page = BeautifulSoup(OutputLayout(tmp_path / "out").report_file(runs[2].name).read_text(),
                         "html.parser")
    assert page.select_one("#outcome").text == "stopped at ValidationGate"
    reason = page.select_one("#stop-reason").text
    assert "payment_type: Drift from the previous data" in reason and "L-infinity distance" in reason
    training = page.select_one("#training").text
    assert "No model was trained in this run: it stopped at ValidationGate" in training
    assert "stopped at ValidationGate" in page.select_one("#push-reason").text
    assert len(list((tmp_path / "out" / "reports").glob("run-*.html"))) == 4, "a report per span"
