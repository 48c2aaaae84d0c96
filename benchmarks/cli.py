"""`python -m benchmarks <trainer|workers|inputs|newcomer|all|render>` (or `python -m pipeline bench`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from pipeline.shared.layout import OutputLayout

EXIT_OK, EXIT_USAGE = 0, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="measure performance on this machine")
    commands = parser.add_subparsers(dest="bench_command", required=True, metavar="COMMAND")
    trainer_bench = commands.add_parser(
        "trainer", help="Trainer throughput with 1 vs 2 CPU replicas, alternating, on one run's data")
    trainer_bench.add_argument("--pipeline-root", type=Path,
                               default=OutputLayout(Path("outputs/local")).pipeline_root,
                               help="pipeline root of a finished run (its Transform outputs are used)")
    trainer_bench.add_argument("--pairs", type=int, default=3)
    trainer_bench.add_argument("--epochs", type=int, default=3)
    trainer_bench.add_argument("--results", type=Path, default=Path("outputs/bench/trainer.json"))
    trainer_bench.set_defaults(handler=command_trainer)
    workers_bench = commands.add_parser(
        "workers", help="the Trainer on 1 vs 2 worker processes, alternating, at two data sizes")
    workers_bench.add_argument("--work", type=Path, default=Path("outputs/bench/work"),
                               help="scratch folder; reuses its scale-N-default runs of `bench all` "
                                    "(default: outputs/bench/work)")
    workers_bench.add_argument("--sizes", default="150000,1500000",
                               help="rows, comma-separated (default: 150000,1500000)")
    workers_bench.add_argument("--pairs", type=int, default=2, help="1/2-worker pairs per size (default: 2)")
    workers_bench.add_argument("--epochs", type=int, default=2, help="epochs per training (default: 2)")
    workers_bench.add_argument("--quiet-wait", type=float, default=300.0, metavar="SECONDS",
                               help="before each pair, wait up to this long for quiet (default: 300)")
    workers_bench.add_argument("--update-docs", action="store_true",
                               help="also store the results under 'workers' in docs/benchmarks.json "
                                    "and render docs/benchmarks.md again")
    workers_bench.set_defaults(handler=command_workers)
    inputs_bench = commands.add_parser(
        "inputs", help="the pre-flight check and predict on a generated file, in turn, each after quiet")
    inputs_bench.add_argument("--work", type=Path, default=Path("outputs/bench/work"),
                              help="scratch folder; reuses `bench all`'s data-N file and taxi run "
                                   "(default: outputs/bench/work)")
    inputs_bench.add_argument("--rows", type=int, default=1_500_000, help="rows (default: 1500000)")
    inputs_bench.add_argument("--repeats", type=int, default=3, help="repetitions (default: 3)")
    inputs_bench.add_argument("--quiet-wait", type=float, default=300.0, metavar="SECONDS",
                              help="before each repetition, wait up to this long for quiet (default: 300)")
    inputs_bench.add_argument("--update-docs", action="store_true",
                              help="also store the results under 'inputs' in docs/benchmarks.json "
                                   "and render docs/benchmarks.md again")
    inputs_bench.set_defaults(handler=command_inputs)
    newcomer_bench = commands.add_parser(
        "newcomer", help="a fresh clone's make setup and make run with an empty package cache, in turn")
    newcomer_bench.add_argument("--work", type=Path, default=Path("outputs/bench/work"),
                                help="scratch folder for the clones (default: outputs/bench/work)")
    newcomer_bench.add_argument("--repeats", type=int, default=3, help="repetitions (default: 3)")
    newcomer_bench.add_argument("--quiet-wait", type=float, default=300.0, metavar="SECONDS",
                                help="before each repetition, wait up to this long for quiet (default: 300)")
    newcomer_bench.add_argument("--update-docs", action="store_true",
                                help="also store the results under 'newcomer' in docs/benchmarks.json "
                                     "and render docs/benchmarks.md again")
    newcomer_bench.set_defaults(handler=command_newcomer)
    all_bench = commands.add_parser(
        "all", help="versus TFX's template, cached rerun, scale, trainer, start-up; "
                    "writes docs/benchmarks.md")
    all_bench.add_argument("--work", type=Path, default=Path("outputs/bench/work"),
                           help="scratch folder for runs, data and logs")
    all_bench.add_argument("--pairs", type=int, default=3, help="template/ours pairs, alternating")
    all_bench.add_argument("--no-template", action="store_true", help="skip the TFX template runs")
    all_bench.add_argument("--sample-rows", type=int, help="use the first N taxi rows (default: all)")
    all_bench.add_argument("--sizes", default="15000,150000,1500000", help="synthetic sizes, comma-separated")
    all_bench.add_argument("--modes-at", default="150000",
                           help="sizes also run all in-process and all multi-processing (comma-separated)")
    all_bench.add_argument("--scale-set", action="append", default=[], metavar="KEY=VALUE",
                           help="config override for the scale runs only (repeatable)")
    all_bench.add_argument("--trainer-pairs", type=int, default=3)
    all_bench.add_argument("--quiet-wait", type=float, default=300.0, metavar="SECONDS",
                           help="before each pair and size, wait up to this long for other processes to "
                                "fall quiet; a pair measured busy is marked and left out of the summary")
    all_bench.add_argument("--results", type=Path, default=Path("docs/benchmarks.json"),
                           help="the raw measurements (benchmarks.md is rendered from them)")
    all_bench.add_argument("--docs", type=Path, default=Path("docs"),
                           help="where benchmarks.md and benchmarks.png go")
    all_bench.add_argument("--smoke", action="store_true",
                           help="a quick pass of every step on tiny data (no template, docs under --work)")
    all_bench.set_defaults(handler=command_all)
    render_bench = commands.add_parser(
        "render", help="rewrite benchmarks.md and benchmarks.png from a results file "
                       "(after a change to the template)")
    render_bench.add_argument("--results", type=Path, default=Path("docs/benchmarks.json"))
    render_bench.add_argument("--docs", type=Path, default=Path("docs"))
    render_bench.set_defaults(handler=command_render)
    return parser


def command_trainer(args: argparse.Namespace, console: Console) -> int:
    from benchmarks.measure import bench_trainer

    results = bench_trainer(args.pipeline_root, args.pairs, args.epochs,
                            lambda line: console.print("  " + line, highlight=False))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2), encoding="utf-8")
    for replicas in (1, 2):
        console.print(f"{replicas} replica(s): median {results['median_seconds'][replicas]:.1f} s, "
                      f"{results['median_examples_per_second'][replicas]:.0f} examples/s", highlight=False)
    ratios = results["throughput_ratio_2_over_1_per_pair"]
    console.print(f"2-replica / 1-replica throughput per pair: {ratios} (median {results['median_ratio']}); "
                  f"results in {args.results}", highlight=False)
    return EXIT_OK


def command_workers(args: argparse.Namespace, console: Console) -> int:
    from benchmarks.workers import bench_workers

    results = bench_workers(args.work.resolve(), list(_sizes(args.sizes)), args.pairs, args.epochs,
                            args.quiet_wait, lambda line: console.print("  " + line, highlight=False))
    results["command"] = " ".join(["python -m benchmarks", *sys.argv[1:]])
    target = args.work / "workers.json"
    target.write_text(json.dumps(results, indent=2), encoding="utf-8")
    for size in results["sizes"]:
        console.print(f"{size['rows']:,} rows: wall s {size['wall_seconds']}, examples/s "
                      f"{size['examples_per_second']}, ratio 2/1 {size['wall_ratio_2_over_1']}",
                      highlight=False)
    if args.update_docs:
        _merge_into_docs("workers", results)
    console.print(f"results {target}", highlight=False)
    return EXIT_OK


def command_inputs(args: argparse.Namespace, console: Console) -> int:
    from benchmarks.inputs import bench_inputs

    work = args.work.resolve()
    results = bench_inputs(work, args.rows, args.repeats, args.quiet_wait,
                           lambda line: console.print("  " + line, highlight=False))
    results["command"] = " ".join(["python -m benchmarks", *sys.argv[1:]])
    target = work / "inputs.json"
    target.write_text(json.dumps(results, indent=2), encoding="utf-8")
    console.print(f"{results['rows']:,} rows: pre-flight s {results['preflight_seconds']}, predict s "
                  f"{results['predict_seconds']}, predict rows/s {results['predict_rows_per_second']}",
                  highlight=False)
    if args.update_docs:
        _merge_into_docs("inputs", results)
    console.print(f"results {target}", highlight=False)
    return EXIT_OK


def command_newcomer(args: argparse.Namespace, console: Console) -> int:
    from benchmarks.newcomer import bench_newcomer

    work = args.work.resolve()
    results = bench_newcomer(work, args.repeats, args.quiet_wait,
                             lambda line: console.print("  " + line, highlight=False))
    results["command"] = " ".join(["python -m benchmarks", *sys.argv[1:]])
    target = work / "newcomer.json"
    target.write_text(json.dumps(results, indent=2), encoding="utf-8")
    console.print(f"make setup + make run on a fresh clone: {results['total_seconds']} s", highlight=False)
    if args.update_docs:
        _merge_into_docs("newcomer", results)
    console.print(f"results {target}", highlight=False)
    return EXIT_OK


def _merge_into_docs(key: str, results: dict) -> None:
    """One section's results into docs/benchmarks.json, and the page rendered again."""
    from benchmarks.docs import write_bench_docs

    docs_results = Path("docs/benchmarks.json")
    merged = {**json.loads(docs_results.read_text(encoding="utf-8")), key: results}
    docs_results.write_text(json.dumps(merged, indent=2), encoding="utf-8")
    write_bench_docs(merged, docs_results, Path("docs"))


def _sizes(text: str) -> tuple[int, ...]:
    return () if text.strip() in ("", "none") else tuple(int(item) for item in text.split(","))


def command_all(args: argparse.Namespace, console: Console) -> int:
    from benchmarks.docs import COMMAND, write_bench_docs
    from benchmarks.suite import BenchPlan, bench_all

    if args.smoke:
        plan = BenchPlan(work=args.work.resolve(), pairs=1, template=False, sample_rows=800, sizes=(400,),
                         modes_at=(), scale_overrides=("training.epochs=1",), trainer_pairs=0, worker_pairs=0,
                         inputs_rows=400, inputs_repeats=1, evaluator_examples=100, lineage_runs=10,
                         newcomer_repeats=0, quiet_wait_seconds=0)
        results_file, docs = args.work / "results.json", args.work / "docs"
    else:
        plan = BenchPlan(work=args.work.resolve(), pairs=args.pairs, template=not args.no_template,
                         sample_rows=args.sample_rows, sizes=_sizes(args.sizes),
                         modes_at=_sizes(args.modes_at), scale_overrides=tuple(args.scale_set),
                         trainer_pairs=args.trainer_pairs, quiet_wait_seconds=args.quiet_wait)
        results_file, docs = args.results, args.docs
    console.print(f"benchmarking into {plan.work} (logs in {plan.work / 'logs'}; results so far in "
                  "results-partial.json there)", highlight=False)
    partial = plan.work / "results-partial.json"

    def save(results: dict) -> None:
        partial.write_text(json.dumps(results, indent=2), encoding="utf-8")

    results = bench_all(plan, lambda line: console.print("  " + line, highlight=False), save)
    results["command"] = " ".join([COMMAND, *sys.argv[2:]])
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2), encoding="utf-8")
    partial.unlink(missing_ok=True)
    markdown, plot = write_bench_docs(results, results_file, docs)
    console.print(f"results {results_file}\ntable   {markdown}\nplot    {plot}", highlight=False)
    for key, value in results["summary"].items():
        console.print(f"  {key}: {value}", highlight=False)
    return EXIT_OK


def command_render(args: argparse.Namespace, console: Console) -> int:
    from benchmarks.docs import write_bench_docs

    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        console.print(f"[red]error[/]: cannot read benchmark results {args.results}: {escape(str(error))}",
                      highlight=False)
        return EXIT_USAGE
    if "summary" not in results:
        console.print(f"[red]error[/]: {args.results} is not from `bench all` (no summary)", highlight=False)
        return EXIT_USAGE
    markdown, plot = write_bench_docs(results, args.results, args.docs)
    console.print(f"table   {markdown}\nplot    {plot}", highlight=False)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    return args.handler(args, console)
