"""`bench all --smoke`: every benchmark step for real, on tiny data, into a scratch folder."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench")
    docs_before = {path: path.stat().st_mtime_ns for path in (PROJECT_ROOT / "docs").glob("benchmarks*")}
    result = subprocess.run(cli("bench", "all", "--smoke", "--work", str(work)), cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    docs_after = {path: path.stat().st_mtime_ns for path in (PROJECT_ROOT / "docs").glob("benchmarks*")}
    return work, json.loads((work / "results.json").read_text()), docs_before, docs_after


def test_smoke_measures_a_cold_run_and_both_kinds_of_rerun(smoke):
    _, results, _, _ = smoke
    [pair] = results["pairs"]
    cold, unchanged, forced = pair["ours"], pair["ours_cached"], pair["ours_forced"]
    assert cold["returncode"] == unchanged["returncode"] == forced["returncode"] == 0
    assert cold["components"]["Trainer"]["state"] == "COMPLETE"
    assert forced["components"]["Trainer"]["state"] == "CACHED", "a forced rerun reuses TFX's cache"
    assert 0 < cold["startup_seconds"] < cold["seconds"]
    summary = results["summary"]
    assert summary["cached_median_ratio"] == pytest.approx(unchanged["seconds"] / cold["seconds"], abs=1e-3)
    assert summary["forced_median_ratio"] == pytest.approx(forced["seconds"] / cold["seconds"], abs=1e-3)
    assert 0.5 <= cold["auc"] <= 1.0
    # The machine was checked before the pair (a smoke run never waits for quiet).
    assert set(pair["machine"]) >= {"load_average", "other_cpu_percent", "busiest", "quiet"}
    seconds = summary["ours_seconds_spread"]
    assert seconds["min"] <= seconds["median"] <= seconds["max"] == pytest.approx(cold["seconds"], abs=1e-3)


def test_smoke_measures_scale_and_start_up(smoke):
    _, results, _, _ = smoke
    [row] = results["scale"]
    assert row["rows"] == 400 and row["mode"] == "default"
    assert row["max_rss_mib"] > 200, "the peak memory of a process that loaded TensorFlow"
    assert set(row["components"]) >= {"CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"}
    evaluator = results["evaluator"]
    assert evaluator["examples"] == 100
    # On 100 examples the variants' order is noise; the full benchmark measures it on 10,000.
    assert len(evaluator["seconds"]) == 6 and all(seconds > 0 for seconds in evaluator["seconds"].values())
    light = results["startup"]["light_commands_median_seconds"]
    assert set(light) == {"help", "check-config"} and all(seconds > 0 for seconds in light.values())
    # The first pair's two runs, replayed to at least the smoke plan's 10 runs; every command timed 3 times.
    lineage = results["lineage"]
    assert lineage["runs"] >= 10 and set(lineage["seconds"]) == {
        "lineage runs", "lineage show", "lineage trace latest-pushed", "why", "models"}
    assert all(0 < s["min"] <= s["median"] <= s["max"] for s in lineage["seconds"].values())
    assert results["summary"]["lineage_slowest"][1] == max(s["median"] for s in lineage["seconds"].values())
    inputs = results["inputs"]  # the pre-flight check and predict, on the scale step's 400-row file
    assert inputs["rows"] == 400 and inputs["model"].startswith("ours-0/")
    assert 0 < inputs["preflight_seconds"]["median"] < inputs["predict_seconds"]["median"]
    assert inputs["predict_rows_per_second"]["median"] == round(400 / inputs["predict_seconds"]["median"])


def test_smoke_renders_the_docs_in_its_work_folder_only(smoke):
    work, results, docs_before, docs_after = smoke
    markdown = (work / "docs" / "benchmarks.md").read_text()
    assert docs_after == docs_before, "a smoke run must not touch docs/"
    cold = results["pairs"][0]["ours"]["seconds"]
    assert f"| 1 | {cold:.1f} |" in markdown
    assert "| 400 | default |" in markdown
    assert "### Where the Evaluator's time goes" in markdown
    assert "## Lineage on a long-lived store" in markdown
    assert "## 4c. The pre-flight check and predict on 400 rows" in markdown
    trace = results["lineage"]["seconds"]["lineage trace latest-pushed"]
    times = f"{trace['min']:.2f} · {trace['median']:.2f} · {trace['max']:.2f}"
    row = f"| `lineage trace latest-pushed` | {times} |"
    assert row in markdown
    [row] = results["scale"]
    share = round(100 * row["components"]["Evaluator"]["seconds"] / row["seconds"])
    assert f"Share of the 400-row run's {row['seconds']:.1f} s:" in markdown
    assert f"Evaluator {share} %" in markdown
    assert "## 1. This project versus" not in markdown, "the template was not run"
    assert (work / "docs" / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_rewrites_the_same_docs_from_the_results_file(smoke, tmp_path):
    work, results, _, _ = smoke
    command = cli("bench", "render", "--results", str(work / "results.json"), "--docs", str(tmp_path))
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "benchmarks.md").read_text() == (work / "docs" / "benchmarks.md").read_text()
    assert results["command"].startswith("python -m benchmarks all --smoke")
    assert f"Measured by `{results['command']}`" in (tmp_path / "benchmarks.md").read_text()


def test_render_names_a_results_file_that_is_not_from_bench_all(tmp_path):
    stray = tmp_path / "trainer.json"
    stray.write_text(json.dumps({"median_seconds": {"1": 3.0}}))
    result = subprocess.run(cli("bench", "render", "--results", str(stray), "--docs", str(tmp_path / "docs")),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert str(stray) in result.stdout and "not from `bench all`" in result.stdout
    assert not (tmp_path / "docs").exists(), "nothing is written for a bad results file"
