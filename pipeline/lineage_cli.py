"""`python -m pipeline lineage <command>`: ML Metadata from the command line.

Every command prints a table or tree by default and JSON with --json. None of
them imports TensorFlow or TFX.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from pipeline import lineage
from pipeline import store as mlmd


def add_lineage_commands(commands, add_store_arguments, command_why) -> None:
    parser = commands.add_parser("lineage", help="inspect runs and provenance in ML Metadata")
    sub = parser.add_subparsers(dest="lineage_command", required=True, metavar="COMMAND")

    runs = sub.add_parser("runs", help="pipeline runs, newest first")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(handler=command_runs)

    show = sub.add_parser("show", help="the executions and artifacts of a run")
    show.add_argument("run", nargs="?", default="latest")
    show.set_defaults(handler=command_show)

    trace = sub.add_parser("trace", help="provenance of an artifact (upstream, or --downstream)")
    trace.add_argument("target", help="artifact id, run id, or latest-pushed")
    trace.add_argument("--downstream", action="store_true", help="follow what used it instead")
    trace.add_argument("--hops", type=int, default=lineage.DEFAULT_HOPS)
    trace.set_defaults(handler=command_trace)

    diff = sub.add_parser("diff", help="what changed between two runs")
    diff.add_argument("run_a")
    diff.add_argument("run_b")
    diff.set_defaults(handler=command_diff)

    graph = sub.add_parser("graph", help="a picture of a run's lineage")
    graph.add_argument("run", nargs="?", default="latest")
    graph.add_argument("--format", choices=["dot", "svg", "png"], default="dot")
    graph.add_argument("--output", dest="graph_output", required=True, help="file to write")
    graph.set_defaults(handler=command_graph)

    why = sub.add_parser("why", help="why a run's model was (not) blessed and released")
    why.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    why.set_defaults(handler=command_why)

    for child in (runs, show, trace, diff, graph, why):
        add_store_arguments(child)


def command_runs(args, console: Console, store, config) -> int:
    rows = lineage.list_runs(store, config.pipeline_name, args.limit)
    if args.json:
        print(json.dumps([{**asdict(row), "status": row.status} for row in rows], indent=2))
        return 0
    table = Table("run", "started", "seconds", "status", "blessed", "pushed", box=None)
    for row in rows:
        blessed = "-" if row.blessed is None else ("yes" if row.blessed else "no")
        table.add_row(row.run_id, row.started, f"{row.seconds:.1f}", row.status, blessed,
                      row.pushed_version or "-")
    console.print(table)
    return 0


def command_show(args, console: Console, store, config) -> int:
    run = lineage.find_run(store, args.run, config.pipeline_name)
    executions = mlmd.component_executions(store, run)
    artifacts = mlmd.output_artifacts(store, [item.execution.id for item in executions])
    if args.json:
        print(json.dumps({
            "run_id": run.name,
            "executions": [{"id": i.execution.id, "component": i.component, "state": i.state,
                            "seconds": i.seconds,
                            "details": lineage.execution_details(i.execution)}
                           for i in executions],
            "artifacts": [{"id": a.id, "type": a.type, "uri": a.uri,
                           "details": lineage.artifact_details(a)} for a in artifacts],
        }, indent=2, default=str))
        return 0
    console.print(f"Run {run.name}", highlight=False)
    table = Table("execution", "component", "state", "seconds", box=None)
    for item in executions:
        table.add_row(str(item.execution.id), item.component, item.state, f"{item.seconds:.1f}")
    console.print(table)
    table = Table("artifact", "type", "uri", "properties", box=None)
    for artifact in artifacts:
        details = _details(lineage.artifact_details(artifact))
        table.add_row(str(artifact.id), artifact.type, artifact.uri, details)
    console.print(table)
    return 0


def command_trace(args, console: Console, store, config) -> int:
    artifact = lineage.resolve_target(store, args.target, config.pipeline_name)
    root = lineage.trace(store, artifact, downstream=args.downstream, max_hops=args.hops)
    if args.json:
        print(json.dumps(root.as_dict(), indent=2, default=str))
        return 0
    tree = _trace_tree(root, args.downstream)
    # In a file or pipe, never cut a line: paths and fingerprints come last on it.
    console.print(tree, crop=False, width=None if console.is_terminal else 100_000)
    return 0


def trace_text(root: lineage.TraceNode, downstream: bool = False) -> str:
    """The trace tree as plain text, the same as `lineage trace` prints it."""
    console = Console(record=True, width=100_000, file=io.StringIO(), color_system=None)
    console.print(_trace_tree(root, downstream), crop=False)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def _trace_tree(root: lineage.TraceNode, downstream: bool) -> Tree:
    direction = "downstream" if downstream else "upstream"
    tree = Tree(f"{direction} of {_node_label(root)}", highlight=False)
    for child in root.children:
        _add_to_tree(tree, child)
    return tree


def _add_to_tree(tree: Tree, node: lineage.TraceNode) -> None:
    branch = tree.add(_node_label(node), highlight=False)
    for child in node.children:
        _add_to_tree(branch, child)


def _node_label(node: lineage.TraceNode) -> str:
    if node.kind == "execution":
        text = f"[bold]{node.label}[/] (execution {node.id}, {node.state.lower()})"
    else:
        text = f"{node.label} #{node.id}  {node.uri}"
    if node.details:
        text += f"  [dim]{_details(node.details)}[/]"
    return text + ("  [dim](see above)[/]" if node.seen_before else "")


def command_diff(args, console: Console, store, config) -> int:
    run_a = lineage.find_run(store, args.run_a, config.pipeline_name)
    run_b = lineage.find_run(store, args.run_b, config.pipeline_name)
    changes = lineage.diff_runs(store, run_a, run_b)
    if args.json:
        print(json.dumps({"run_a": run_a.name, "run_b": run_b.name,
                          "changes": [asdict(change) for change in changes]}, indent=2, default=str))
        return 0
    console.print(f"{run_a.name} → {run_b.name}: {len(changes)} difference(s)", highlight=False)
    table = Table("section", "key", run_a.name, run_b.name, box=None)
    for change in changes:
        table.add_row(change.section, change.key, _value(change.before), _value(change.after))
    console.print(table)
    return 0


def command_graph(args, console: Console, store, config) -> int:
    run = lineage.find_run(store, args.run, config.pipeline_name)
    graph = lineage.run_graph(store, run)
    if args.format == "dot":
        with open(args.graph_output, "w", encoding="utf-8") as writer:
            writer.write(graph.to_string())
    else:
        try:
            graph.write(args.graph_output, format=args.format)
        except FileNotFoundError:
            console.print("graphviz's `dot` program is not installed: install the Debian package "
                          "`graphviz` (make setup does so as root), or use --format dot", markup=False)
            return 1
    console.print(f"wrote {args.graph_output}", highlight=False)
    return 0


def _details(details: dict) -> str:
    return ", ".join(f"{key}={_value(value)}" for key, value in details.items())


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)
