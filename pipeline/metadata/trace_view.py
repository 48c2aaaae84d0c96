"""Provenance trees and property lists as text: what `lineage trace` prints and the report embeds."""

from __future__ import annotations

import io
import json

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from pipeline.metadata.provenance import TraceNode


def trace_tree(root: TraceNode, downstream: bool = False) -> Tree:
    direction = "downstream" if downstream else "upstream"
    tree = Tree(_line(f"{direction} of {_node_label(root)}"), highlight=False)
    for child in root.children:
        _add_to_tree(tree, child)
    return tree


def trace_text(root: TraceNode, downstream: bool = False) -> str:
    """The trace tree as plain text, the same as `lineage trace` prints it."""
    console = Console(record=True, width=100_000, file=io.StringIO(), color_system=None)
    console.print(trace_tree(root, downstream), crop=False)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def _add_to_tree(tree: Tree, node: TraceNode) -> None:
    branch = tree.add(_line(_node_label(node)), highlight=False)
    for child in node.children:
        _add_to_tree(branch, child)


def _line(markup: str) -> Text:
    """One tree line: never wrapped, and ended with "…" where a narrow terminal cuts it.

    A wrapped or silently cut value read as another one (training.epochs=1|2).
    """
    text = Text.from_markup(markup, overflow="ellipsis", end="")
    text.no_wrap = True
    return text


def _node_label(node: TraceNode) -> str:
    if node.kind == "execution":
        text = f"[bold]{node.label}[/] (execution {node.id}, {node.state.lower()})"
    else:
        text = f"{node.label} #{node.id}  {node.uri}"
    if node.details:
        text += f"  [dim]{details_text(node.details)}[/]"
    return text + ("  [dim](see above)[/]" if node.seen_before else "")


def details_text(details: dict) -> str:
    return ", ".join(f"{key}={value_text(value)}" for key, value in details.items())


def value_text(value) -> str:
    """A value on one line: floats to 6 digits, lists and mappings (configuration values) as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "-" if value is None else str(value)
