"""`python -m pipeline lineage <command>`: ML Metadata from the command line.

Every command prints a table or tree by default and JSON with --json. None of
them imports TensorFlow or TFX.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from configs.settings import ConfigError
from pipeline.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_store_arguments,
    open_store_from_arguments,
    refuse_folder,
    whole_column,
)
from pipeline.cli.runs import add_why_arguments, print_release_actions

GRAPH_FORMATS = ("dot", "svg", "png")
GRAPH_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}


def register(commands) -> None:
    from pipeline.metadata.provenance import DEFAULT_HOPS

    parser = commands.add_parser("lineage", help="inspect runs and provenance in ML Metadata")
    sub = parser.add_subparsers(dest="lineage_command", required=True, metavar="COMMAND")

    runs = sub.add_parser("runs", help="pipeline runs, newest first")
    runs.add_argument("--limit", type=int, default=20,
                      help="how many runs to list, newest first (default: 20)")
    runs.set_defaults(handler=command_runs)

    show = sub.add_parser("show", help="the executions and artifacts of a run")
    show.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    show.set_defaults(handler=command_show)

    trace = sub.add_parser("trace", help="provenance of an artifact (upstream, or --downstream)")
    trace.add_argument("target", help="artifact id, run id, or latest-pushed")
    trace.add_argument("--downstream", action="store_true", help="follow what used it instead")
    trace.add_argument("--hops", type=int, default=DEFAULT_HOPS,
                       help=f"how many execution steps to follow from the target (default: {DEFAULT_HOPS})")
    trace.set_defaults(handler=command_trace)

    diff = sub.add_parser("diff", help="what changed between two runs")
    diff.add_argument("run_a", help="the earlier run: id or prefix")
    diff.add_argument("run_b", help="the later run: id or prefix")
    diff.set_defaults(handler=command_diff)

    graph = sub.add_parser("graph", help="a picture of a run's lineage")
    graph.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    graph.add_argument("--format", choices=GRAPH_FORMATS,
                       help="dot, svg or png (default: from the --output file's suffix; svg and png need "
                            "graphviz)")
    graph.add_argument("--output", dest="graph_output", required=True, type=Path, help="file to write")
    graph.set_defaults(handler=command_graph)

    for child in (runs, show, trace, diff, graph):
        add_store_arguments(child)
    add_why_arguments(sub.add_parser("why", help="why a run's model was (not) blessed and released"))


def command_runs(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata.lineage import list_runs

    opened = open_store_from_arguments(args)
    store = opened.store
    rows = list_runs(store, opened.pipeline, args.limit)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return EXIT_OK
    table = Table(whole_column("run", [row.run_id for row in rows]), "started", "seconds", "status",
                  "blessed", "pushed", box=None)
    for row in rows:
        blessed = f"- ({row.no_verdict_brief})" if row.blessed is None else ("yes" if row.blessed else "no")
        status = row.status + (f" · {row.pruned} pruned" if row.pruned else "")
        table.add_row(row.run_id, row.started, f"{row.seconds:.1f}", status, blessed,
                      row.pushed_version or ("- (pinned)" if row.not_pushed else "-"))
    console.print(table)
    print_release_actions(console, store, opened.pipeline)
    return EXIT_OK


def command_show(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import lineage
    from pipeline.metadata import store as mlmd
    from pipeline.metadata.outcome import find_run, read_outcome
    from pipeline.metadata.run_facts import rerun_facts, rerun_text
    from pipeline.metadata.trace_view import details_text

    opened = open_store_from_arguments(args)
    store = opened.store
    run = find_run(store, args.run, opened.pipeline)
    outcome = read_outcome(store, run)
    executions = outcome.components
    artifacts = mlmd.output_artifacts(store, [item.execution.id for item in executions])
    if args.json:
        print(json.dumps({
            "run_id": run.name, **rerun_facts(run),
            "decision": decision_line(outcome), "blessed": outcome.blessed,
            **outcome.push_facts(),
            "overall_metrics": (outcome.verdict or {}).get("slices", {}).get("Overall"),
            "executions": [{"id": i.execution.id, "component": i.component, "state": i.state,
                            "seconds": i.seconds,
                            "details": lineage.execution_details(i.execution)}
                           for i in executions],
            "artifacts": [{"id": a.id, "type": a.type, "uri": a.uri,
                           "details": lineage.artifact_details(a)} for a in artifacts],
        }, indent=2, default=str))
        return EXIT_OK
    rerun = rerun_text(run)
    console.print(f"Run {run.name}" + (f" ({rerun})" if rerun else ""),
                  highlight=False, markup=False)
    console.print(f"Decision: {decision_line(outcome)}", highlight=False, markup=False)
    console.print(f"Pushed: {outcome.pushed_text}", highlight=False, markup=False)
    for record in outcome.release_actions:
        console.print(f"Release action: {record.one_line()}", highlight=False, markup=False)
    table = Table("execution", "component", "state", "seconds", box=None)
    for item in executions:
        table.add_row(str(item.execution.id), item.component, item.state, f"{item.seconds:.1f}")
    console.print(table)
    table = Table("artifact", "type", "uri", "properties", box=None)
    for artifact in artifacts:
        table.add_row(str(artifact.id), artifact.type, Text(artifact.uri),
                      Text(details_text(lineage.artifact_details(artifact))))
    console.print(table)
    return EXIT_OK


def decision_line(outcome) -> str:
    """`BLESSED by the Evaluator · auc 0.9830 · binary_accuracy 0.9834`, or why there is no decision."""
    verdict = outcome.verdict
    if verdict is None:
        return f"none: {outcome.missing_verdict}"
    head = "BLESSED" if outcome.blessed else "NOT BLESSED"
    overall = verdict["slices"].get("Overall", {})
    metrics = [f"{name} {overall[name]:.4f}" for name in ("auc", "binary_accuracy")
               if overall.get(name) is not None]
    return " · ".join([f"{head} by the {verdict.get('decided_by', 'Verdict')}", *metrics])


def command_trace(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata import provenance
    from pipeline.metadata.trace_view import trace_text, trace_tree

    opened = open_store_from_arguments(args)
    store = opened.store
    artifact = provenance.resolve_target(store, args.target, opened.pipeline)
    root = provenance.trace(store, artifact, downstream=args.downstream, max_hops=args.hops)
    if args.json:
        print(json.dumps(root.as_dict(), indent=2, default=str))
        return EXIT_OK
    if console.is_terminal:  # a line wider than the terminal ends with "…"
        console.print(trace_tree(root, args.downstream))
    else:  # in a file or pipe, never cut a line: paths and fingerprints come last on it
        print(trace_text(root, args.downstream))
    return EXIT_OK


def command_diff(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata.outcome import find_run
    from pipeline.metadata.run_diff import diff_runs
    from pipeline.metadata.trace_view import value_text

    opened = open_store_from_arguments(args)
    store = opened.store
    run_a = find_run(store, args.run_a, opened.pipeline)
    run_b = find_run(store, args.run_b, opened.pipeline)
    changes = diff_runs(store, run_a, run_b)
    if args.json:
        print(json.dumps({"run_a": run_a.name, "run_b": run_b.name,
                          "changes": [asdict(change) for change in changes]}, indent=2, default=str))
        return EXIT_OK
    console.print(f"{run_a.name} → {run_b.name}: {len(changes)} difference(s)", highlight=False)
    # The key says what changed: the values give way to it when the table is too wide.
    table = Table(whole_column("section", [change.section for change in changes]),
                  whole_column("key", [change.key for change in changes]), run_a.name, run_b.name, box=None)
    for change in changes:
        # Keys and values are data, not markup: "[train] payment_type" must not lose its split.
        table.add_row(*(Text(text) for text in (change.section, change.key, value_text(change.before),
                                                 value_text(change.after))))
    console.print(table)
    return EXIT_OK


def command_graph(args: argparse.Namespace, console: Console) -> int:
    from pipeline.metadata.outcome import find_run
    from pipeline.metadata.run_diff import run_graph

    output_format = graph_format(args.format, args.graph_output)
    opened = open_store_from_arguments(args)
    store = opened.store
    run = find_run(store, args.run, opened.pipeline)
    graph = run_graph(store, run)
    if output_format == "dot":
        with open(args.graph_output, "w", encoding="utf-8") as writer:
            writer.write(graph.to_string())
    else:
        try:
            graph.write(str(args.graph_output), format=output_format)
        except FileNotFoundError:
            console.print("graphviz's `dot` program is not installed: install the Debian package "
                          "`graphviz` (make setup does so as root), or use --format dot", markup=False)
            return EXIT_FAILED
    if args.json:
        print(json.dumps({"run": run.name, "output": str(args.graph_output), "format": output_format,
                          "nodes": [node.get_name() for node in graph.get_nodes()],
                          "edges": [[edge.get_source(), edge.get_destination()]
                                    for edge in graph.get_edges()]},
                         indent=2))
        return EXIT_OK
    console.print(f"wrote {args.graph_output}", highlight=False)
    return EXIT_OK


def graph_format(chosen: str | None, output: Path) -> str:
    """--format, or the one the file's suffix names; a suffix that names none needs --format."""
    refuse_folder("--output", output, "file")
    suffix = GRAPH_SUFFIXES.get(output.suffix.lower())
    if chosen is None and suffix is None:
        raise ConfigError(f"--output {output}: give --format (dot, svg or png) or a file ending in "
                          ".dot, .gv, .svg or .png")
    if chosen is not None and suffix is not None and chosen != suffix:
        raise ConfigError(f"--format {chosen} does not match --output {output}; use a .{chosen} file")
    return chosen or suffix
