"""docs/benchmarks.md and docs/benchmarks.png, rendered from a results file of `python -m benchmarks all`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmarks.measure import PROJECT_ROOT
from benchmarks.suite import BEAM_MODES, DEFAULT_MODE, TEMPLATE_MODE

TEMPLATES = Path(__file__).resolve().parent / "templates"
COMMAND = "python -m benchmarks all"


SCALE_COMPONENTS = ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")


def write_bench_docs(results: dict, results_file: Path, docs: Path) -> tuple[Path, Path]:
    """docs/benchmarks.md (from a Jinja2 template) and docs/benchmarks.png, from the results only."""
    import jinja2

    results = json.loads(json.dumps(results))  # exactly what results.json holds
    docs.mkdir(parents=True, exist_ok=True)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    pairs = results["pairs"]
    components = []
    for pair in pairs[:1]:
        for side in ("template", "ours"):
            for name in pair.get(side, {}).get("components", {}):
                if name not in components:
                    components.append(name)
    cached_components = []
    if pairs:
        cold, warm = pairs[0]["ours"]["components"], pairs[0]["ours_forced"]["components"]
        cached_components = [(name, cold[name]["seconds"], warm[name]["seconds"], warm[name]["state"].lower())
                             for name in warm if name in cold]
    largest, modes = largest_run_shares(results["scale"]), beam_mode_ratios(results["scale"])
    text = environment.get_template("benchmarks.md.j2").render(
        r=results, s=results["summary"], m=results["machine"],
        command=results.get("command", COMMAND),
        results_file=os.path.relpath(results_file, PROJECT_ROOT), components=components,
        cached_components=cached_components, scale_components=SCALE_COMPONENTS, fmt=_fmt,
        largest=largest, modes=modes)
    markdown = docs / "benchmarks.md"
    markdown.write_text(text, encoding="utf-8")
    return markdown, plot_bench(results, docs / "benchmarks.png")


def largest_run_shares(scale: list[dict]) -> dict | None:
    """The largest run in the default mode: its rows, seconds and each component's share of its time."""
    runs = [row for row in scale if row["mode"] == DEFAULT_MODE]
    if not runs:
        return None
    run = max(runs, key=lambda row: row["rows"])
    shares = {name: round(100 * run["components"][name]["seconds"] / run["seconds"])
              for name in SCALE_COMPONENTS if name in run["components"]}
    return {"rows": run["rows"], "seconds": run["seconds"], "shares": shares}


def beam_mode_ratios(scale: list[dict]) -> list[dict]:
    """Per size run in several modes, each component's time in another mode over its default time."""
    default = {row["rows"]: row for row in scale if row["mode"] == DEFAULT_MODE}
    comparisons = []
    for row in scale:
        if row["mode"] in (DEFAULT_MODE, TEMPLATE_MODE) or row["rows"] not in default:
            continue
        base = default[row["rows"]]
        for name in (*SCALE_COMPONENTS, None):
            before = base["seconds"] if name is None else base["components"].get(name, {}).get("seconds")
            after = row["seconds"] if name is None else row["components"].get(name, {}).get("seconds")
            if before and after:
                comparisons.append({"rows": row["rows"], "mode": row["mode"],
                                    "component": name or "whole run", "default": before, "other": after,
                                    "ratio": round(after / before, 2)})
    return comparisons


def _fmt(value, digits: int = 3) -> str:
    """A figure to `digits` places; "-" for one that was not measured (None or missing)."""
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def plot_bench(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    pairs = results["pairs"]
    series = [("template", "TFX template (cold)", "#9aa5b1"), ("ours", "this project (cold)", "#4a78a8"),
              ("ours_forced", "this project (run --force, TFX cache)", "#7fb07f"),
              ("ours_cached", "this project (unchanged rerun)", "#2f7a4a")]
    present = [(key, label, color) for key, label, color in series if pairs and key in pairs[0]]
    width = 0.8 / max(len(present), 1)
    for offset, (key, label, color) in enumerate(present):
        left.bar([i + offset * width for i in range(len(pairs))], [p[key]["seconds"] for p in pairs],
                 width=width, label=label, color=color)
    left.set_xticks([i + width * (len(present) - 1) / 2 for i in range(len(pairs))],
                    [f"pair {i + 1}" for i in range(len(pairs))])
    tallest = max((p[key]["seconds"] for p in pairs for key, _, _ in present), default=1.0)
    left.set_ylim(0, 1.45 * tallest)  # room for the legend above the bars
    left.set_ylabel("wall seconds (whole process)")
    left.set_title("Full run on the taxi CSV")
    left.legend(frameon=False, fontsize=8)
    for mode, marker in zip(BEAM_MODES, "osd", strict=True):
        rows = sorted((r for r in results["scale"] if r["mode"] == mode), key=lambda r: r["rows"])
        if rows:
            right.plot([r["rows"] for r in rows], [r["seconds"] for r in rows], marker=marker, label=mode)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("rows")
    right.set_ylabel("wall seconds")
    right.set_title("Scale (synthetic data, Beam DirectRunner)")
    right.legend(frameon=False, fontsize=8)
    machine_line = f"{results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB, " \
                   f"{results['machine']['date']}"
    figure.suptitle(f"Measured by {COMMAND} · {machine_line}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path
