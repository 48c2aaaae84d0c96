"""Charts for the run report, drawn with matplotlib as inline SVG.

SVG keeps the report one self-contained file that stays sharp when zoomed.
Glyphs are drawn as paths, so the page needs no font, and the SVG id salt is
fixed, so the same run gives the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

STATE_COLORS = {"COMPLETE": "#3a8f5c", "CACHED": "#9aa5b1", "FAILED": "#c0392b"}
OTHER_STATE_COLOR = "#e0a800"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "taxi-tfx-report", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(figure) -> str:
    buffer = io.StringIO()
    # No metadata block: it holds RDF namespace URLs and a date, neither wanted in the page.
    figure.savefig(buffer, format="svg", bbox_inches="tight",
                   metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML


def timeline(rows: Sequence[tuple[str, str, float, float]]) -> str:
    """Gantt chart of (component, state, start offset s, duration s), first at the top."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 0.3 * len(rows) + 0.8))
    for index, (_, state, start, seconds) in enumerate(rows):
        axes.barh(index, max(seconds, 0.2), left=start, color=STATE_COLORS.get(state, OTHER_STATE_COLOR))
        axes.text(start + max(seconds, 0.2) + 0.5, index, f"{seconds:.1f} s {state.lower()}", va="center",
                  fontsize=8)
    axes.set_yticks(range(len(rows)), [row[0] for row in rows])
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the run started")
    axes.margins(x=0.15)
    return _svg(figure)


def training_curves(curves: dict[str, dict[str, list[float]]]) -> str:
    """One panel per metric (loss, AUC), a line per split (train, validation), by epoch."""
    plt = _pyplot()
    metrics = list(curves)
    figure, axes_list = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 2.8), squeeze=False)
    for axes, metric in zip(axes_list[0], metrics, strict=True):
        for split, values in curves[metric].items():
            axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=split)
        axes.set_title(metric)
        axes.set_xlabel("epoch")
        axes.legend(frameon=False)
    figure.tight_layout()
    return _svg(figure)


def slice_metric_bars(rows: Sequence[tuple[str, float]], metric: str, overall_bound: float | None) -> str:
    """Horizontal bars of one metric per slice, with the overall threshold as a dashed line."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 0.22 * len(rows) + 0.9))
    axes.barh(range(len(rows)), [value for _, value in rows], color="#4a78a8")
    axes.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=7)
    axes.invert_yaxis()
    if overall_bound is not None:
        axes.axvline(overall_bound, color="#333", linestyle="--", linewidth=1)
        axes.text(overall_bound, -0.9, f"overall bound {overall_bound:g}", fontsize=7, ha="center")
    axes.set_xlim(0, 1.0)
    axes.set_xlabel(f"{metric} (slices holding both classes, largest first)")
    return _svg(figure)
