"""The run report of a real pipeline run: its numbers against MLMD, TFMA and TFDV, and a real browser."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from pipeline.metadata import store as mlmd
from tests.conftest import PROJECT_ROOT, missing_system_package, store_of

pytestmark = pytest.mark.e2e
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SECTIONS = ("run", "data", "training", "evaluation", "lineage", "push")


@pytest.fixture(scope="module")
def first_run(pipeline_runs):
    """(store, first run context, its report parsed) — the report `run` wrote by itself."""
    output, first, *_ = pipeline_runs
    store = store_of(output)
    run = mlmd.pipeline_runs(store)[-1]
    line = next(line for line in first.stdout.splitlines() if line.strip().startswith("Report"))
    path = Path(line.split(None, 1)[1])
    assert path.parent == output / "reports" and path.is_file(), "every run writes its report"
    return store, run, path, BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def outputs_of(store, run, component: str, type_name: str):
    executions = [item.execution.id for item in mlmd.component_executions(store, run)
                  if item.component == component]
    return mlmd.artifacts_of_type(mlmd.output_artifacts(store, executions), type_name)


def test_component_durations_are_those_in_mlmd(first_run):
    store, run, _, page = first_run
    recorded = {item.component: item.seconds for item in mlmd.component_executions(store, run)}
    shown = {row["data-component"]: float(row.find("td", attrs={"data-seconds": True})["data-seconds"])
             for row in page.select("#components tr[data-component]")}
    assert shown == pytest.approx(recorded)


def test_slice_metrics_are_tfmas(first_run):
    import tensorflow_model_analysis as tfma

    from components.verdict.verdict import describe_slice

    store, run, _, page = first_run
    (evaluation,) = outputs_of(store, run, "Evaluator", "ModelEvaluation")
    expected = {}
    for metrics in tfma.load_metrics(evaluation.uri):
        for item in metrics.metric_keys_and_values:
            if item.key.name in ("auc", "example_count") and not item.key.is_diff and item.value.HasField(
                    "double_value"):
                expected[(describe_slice(metrics.slice_key), item.key.name)] = item.value.double_value.value
    shown = {}
    for row in page.select("#slices tr[data-slice]"):
        for cell in row.select("td[data-metric]"):
            if cell["data-metric"] in ("auc", "example_count") and cell["data-value"]:
                shown[(row["data-slice"], cell["data-metric"])] = float(cell["data-value"])
    assert ("Overall", "auc") in shown
    assert shown.keys() == expected.keys()
    assert shown == pytest.approx(expected)


def test_feature_statistics_are_tfdvs(first_run):
    import tensorflow_data_validation as tfdv

    store, run, _, page = first_run
    (statistics,) = outputs_of(store, run, "StatisticsGen", "ExampleStatistics")
    dataset = tfdv.load_stats_binary(f"{statistics.uri}/Split-train/FeatureStats.pb").datasets[0]
    rows = {row["data-feature"]: row for row in page.select("#features tr[data-feature]")}
    assert len(rows) == len(dataset.features)
    for feature in dataset.features:
        row = rows[feature.path.step[0]]
        common = (feature.num_stats if feature.HasField("num_stats") else feature.string_stats).common_stats
        assert int(row.find("td", attrs={"data-count": True})["data-count"]) == common.num_non_missing
        if feature.HasField("num_stats"):
            assert float(row.find("td", attrs={"data-mean": True})["data-mean"]) == pytest.approx(
                feature.num_stats.mean)


def test_training_curves_are_the_epochs_keras_recorded(first_run):
    store, run, _, page = first_run
    (model_run,) = outputs_of(store, run, "Trainer", "ModelRun")
    history = json.loads(Path(model_run.uri, "training_record.json").read_text())["history"]
    pairs = (("loss/train", "loss"), ("loss/validation", "val_loss"), ("AUC/validation", "val_auc"))
    for label, key in pairs:
        shown = [float(cell["data-value"]) for cell in page.select(f'#curves td[data-curve="{label}"]')]
        assert shown == pytest.approx(history[key], rel=1e-6), label


def test_verdict_and_push_match_the_run(first_run):
    store, run, _, page = first_run
    (pushed,) = outputs_of(store, run, "Pusher", "PushedModel")
    assert page.select_one("#pushed-version").text == str(mlmd.custom_value(pushed, "pushed_version"))
    assert page.select_one("#verdict").text == "BLESSED"
    trace = page.select_one("#trace").text
    assert "PushedModel" in trace and "CsvExampleGen" in trace
    assert page.select_one("#lineage svg") is not None, "the lineage graph is drawn inline"


def test_the_page_is_self_contained(first_run):
    _, _, path, page = first_run
    html = path.read_text(encoding="utf-8")
    assert not page.find_all("script"), "no scripts"
    assert not page.find_all("link"), "no stylesheets or fonts from elsewhere"
    assert not [img for img in page.find_all("img") if not img.get("src", "").startswith("data:")]
    # Namespace declarations (xmlns="http://www.w3.org/...") name, they never load.
    loads = r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import"""
    assert not re.findall(loads, html), "nothing that loads from a network location"
    without_namespaces = re.sub(r'xmlns(?::\w+)?="http[^"]*"', "", html)
    assert not re.findall(r"https?:", without_namespaces), "no URL besides namespace names"
    assert [section["id"] for section in page.find_all("section")] == list(SECTIONS)


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def load_in_chromium(path: Path, screenshot: Path) -> tuple[list[dict], list[str], dict[str, bool]]:
    """(console messages, URLs requested, section id -> displayed) of the page in headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600", "--host-resolver-rules=MAP * ~NOTFOUND",
                 "--proxy-server=127.0.0.1:9"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get(path.resolve().as_uri())
        sections = {sid: driver.find_element(By.ID, sid).is_displayed() for sid in SECTIONS}
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(height, 12000))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        console = driver.get_log("browser")
        requests = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
        urls = [r["params"]["request"]["url"] for r in requests if r["method"] == "Network.requestWillBeSent"]
    finally:
        driver.quit()
    return console, urls, sections


def test_chromium_renders_every_section_without_errors_or_requests(first_run):
    if chromium_paths() is None:
        missing_system_package("Chromium and chromedriver are not installed: apt-get install chromium "
                               "chromium-driver (make test-deps, called by make test, does so as root)")
    _, _, path, _ = first_run
    screenshot = ARTIFACTS / "run-report.png"
    console, urls, sections = load_in_chromium(path, screenshot)
    assert [entry for entry in console if entry["level"] == "SEVERE"] == []
    assert urls and all(url.startswith("file://") for url in urls), urls
    assert all(sections.values()), sections
    assert screenshot.stat().st_size > 10_000
