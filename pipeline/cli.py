"""Command line: ``python -m pipeline <command>``.

Commands that do not train (help, config checks, lineage) never import
TensorFlow; ``run`` imports it only after the configuration has been validated.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console

from configs.settings import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config
from data.errors import DataError
from pipeline.kfp_submit import SubmitError
from pipeline.store import StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="TFX pipeline on the Chicago taxi data: run locally, inspect lineage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the whole pipeline locally")
    _add_config_arguments(run)
    run.add_argument("--force", action="store_true",
                     help="run even when the last run read the same data, config, schema and code")
    run.set_defaults(handler=command_run)

    data = commands.add_parser("data", help="write the default taxi CSV as quarterly spans under data/")
    data.add_argument("--destination", type=Path, default=Path("data/taxi"))
    data.set_defaults(handler=command_data)

    simulate = commands.add_parser("simulate", help="one run per span, in order, as a schedule would")
    _add_config_arguments(simulate)
    simulate.set_defaults(handler=command_simulate)

    why = commands.add_parser("why", help="why a run's model was (not) blessed and released")
    why.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    _add_store_arguments(why)
    why.set_defaults(handler=command_why)

    models = commands.add_parser("models", help="list pushed model versions with run and metrics")
    _add_store_arguments(models)
    models.set_defaults(handler=command_models)

    report = commands.add_parser("report", help="write a run's self-contained HTML report")
    report.add_argument("run", nargs="?", default="latest", help="run id or prefix (default: latest)")
    report.add_argument("--output", type=Path,
                        help="HTML file to write (default: reports/run-<id>.html beside the store)")
    _add_store_arguments(report, json_output=False)
    report.set_defaults(handler=command_report)

    from pipeline.lineage_cli import add_lineage_commands

    add_lineage_commands(commands, _add_store_arguments, command_why)

    schema = commands.add_parser("schema", help="compare what the data implies with the curated schema")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True, metavar="COMMAND")
    infer = schema_commands.add_parser("infer", help="infer a schema from data and list the differences")
    _add_config_arguments(infer)
    infer.add_argument("--write", type=Path, help="also write the inferred schema here (pbtxt)")
    infer.set_defaults(handler=command_schema_infer)

    bench = commands.add_parser("bench", help="measure performance on this machine")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="COMMAND")
    trainer_bench = bench_commands.add_parser(
        "trainer", help="Trainer throughput with 1 vs 2 CPU replicas, alternating, on one run's data")
    trainer_bench.add_argument("--pipeline-root", type=Path, default=Path("outputs/local/pipeline_root"),
                               help="pipeline root of a finished run (its Transform outputs are used)")
    trainer_bench.add_argument("--pairs", type=int, default=3)
    trainer_bench.add_argument("--epochs", type=int, default=3)
    trainer_bench.add_argument("--results", type=Path, default=Path("outputs/bench/trainer.json"))
    trainer_bench.set_defaults(handler=command_bench_trainer)
    all_bench = bench_commands.add_parser(
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
    all_bench.add_argument("--results", type=Path, default=Path("docs/benchmarks.json"),
                           help="the raw measurements (benchmarks.md is rendered from them)")
    all_bench.add_argument("--docs", type=Path, default=Path("docs"),
                           help="where benchmarks.md and benchmarks.png go")
    all_bench.add_argument("--smoke", action="store_true",
                           help="a quick pass of every step on tiny data (no template, docs under --work)")
    all_bench.set_defaults(handler=command_bench_all)
    render_bench = bench_commands.add_parser(
        "render", help="rewrite benchmarks.md and benchmarks.png from a results file "
                       "(after a change to the template)")
    render_bench.add_argument("--results", type=Path, default=Path("docs/benchmarks.json"))
    render_bench.add_argument("--docs", type=Path, default=Path("docs"))
    render_bench.set_defaults(handler=command_bench_render)

    compile_ = commands.add_parser("compile", help="compile for Kubeflow Pipelines 2.x (pipeline spec YAML)")
    _add_kubeflow_arguments(compile_)
    compile_.set_defaults(handler=command_compile)

    submit = commands.add_parser("submit", help="start one run on Kubeflow Pipelines")
    _add_kubeflow_arguments(submit)
    _add_server_arguments(submit)
    submit.add_argument("--run-name", help="default: '<pipeline> <UTC time>'")
    submit.set_defaults(handler=command_submit)

    schedule = commands.add_parser("schedule", help="create a recurring run on Kubeflow Pipelines")
    _add_kubeflow_arguments(schedule)
    _add_server_arguments(schedule)
    schedule.add_argument("--name", required=True, help="recurring run name, unique in the experiment")
    schedule.add_argument("--cron", help="KFP cron, six fields, seconds first: '0 0 2 * * *' = 02:00 daily")
    schedule.add_argument("--every", help="fixed interval instead of --cron: 30m, 6h, 1d")
    schedule.add_argument("--replace", action="store_true",
                          help="replace a recurring run of the same name (KFP cannot update one in place)")
    schedule.set_defaults(handler=command_schedule)

    check = commands.add_parser("check-config", help="validate a configuration and print it")
    _add_config_arguments(check)
    check.set_defaults(handler=command_check_config)
    return parser


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="YAML configuration (default: configs/local.yaml)")
    parser.add_argument("--data", type=Path, help="CSV file or folder; overrides paths.data")
    parser.add_argument("--output", type=Path, help="output folder; overrides paths.output")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override one config value, e.g. --set training.epochs=3 (repeatable)")


def _add_kubeflow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=Path("configs/kubeflow.yaml"),
                        help="YAML configuration with a kubeflow: section (default: configs/kubeflow.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set kubeflow.image=...:1.2 (repeatable)")
    parser.add_argument("--output", type=Path, default=Path("build/pipeline.yaml"),
                        help="where the compiled spec goes (default: build/pipeline.yaml)")


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", type=Path,
                        help="an already compiled spec to send (default: compile to --output first)")
    parser.add_argument("--host", help="Kubeflow Pipelines API, e.g. http://localhost:8080 "
                        "(default: $KFP_HOST; the token, if any, comes from $KFP_TOKEN)")
    parser.add_argument("--namespace", help="Kubeflow profile namespace (multi-user deployments)")
    parser.add_argument("--experiment", help="default: kubeflow.experiment of the config")
    parser.add_argument("--pipeline-root", help="object storage for artifacts, e.g. gs://bucket/root "
                        "(default: kubeflow.pipeline_root of the config)")
    parser.add_argument("--dry-run", action="store_true", help="print the requests; send nothing")


def _add_store_arguments(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="configuration whose metadata store to read (default: configs/local.yaml)")
    parser.add_argument("--store", help="metadata store instead of the config's: SQLite path, "
                        "mysql://user@host:port/db, postgresql://user@host:port/db or grpc://host:port "
                        "(password from the TAXI_TFX_METADATA_PASSWORD environment variable)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def open_store_from_arguments(args: argparse.Namespace):
    from pipeline import store as mlmd

    config = load_config(args.config, check_paths=False)
    if args.store:
        return mlmd.open_store(mlmd.connection_from_url(args.store, config.metadata_password())), config
    if config.metadata.kind == "sqlite":
        # Read-only, and a clear error when the pipeline has not run yet.
        return mlmd.open_store(mlmd.connection_from_url(str(config.paths.metadata_path))), config
    from pipeline.local_runner import metadata_connection

    return mlmd.open_store(metadata_connection(config)), config


def config_from_arguments(args: argparse.Namespace) -> PipelineConfig:
    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"paths.data={args.data}")
    if args.output is not None:
        overrides.append(f"paths.output={args.output}")
    return load_config(args.config, overrides)


def command_check_config(args: argparse.Namespace, console: Console) -> int:
    import yaml

    config = config_from_arguments(args)
    console.print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), highlight=False)
    console.print(f"[green]✔[/] {args.config} is valid")
    return EXIT_OK


def command_data(args: argparse.Namespace, console: Console) -> int:
    from data.prepare import materialise_default_data

    spans = materialise_default_data(args.destination)
    rows = sum(int(count) for _, _, count in spans)
    console.print(f"[green]✔[/] default taxi data at {args.destination}: {rows} rows in {len(spans)} "
                  f"quarterly spans ({spans[0][1]} to {spans[-1][1]})")
    return EXIT_OK


def check_input_data(config: PipelineConfig) -> int:
    """Reads the input files once, before TensorFlow: clear errors for malformed CSV files."""
    from data.checks import check_csv_files, load_schema, numeric_columns
    from pipeline.inputs import data_files

    required = [*config.features.columns(), config.label.column]
    if config.label.reference_column:
        required.append(config.label.reference_column)
    schema_file = config.paths.schema_file
    numeric = numeric_columns(load_schema(schema_file)) if schema_file else {}
    reports = check_csv_files(data_files(config.paths.data, config.spans, config.window), required, numeric)
    return sum(report.rows for report in reports)


def command_run(args: argparse.Namespace, console: Console) -> int:
    config = config_from_arguments(args)
    rows = check_input_data(config)
    from pipeline.freshness import input_fingerprint

    fingerprint = input_fingerprint(config)
    console.print(f"[bold]{config.pipeline_name}[/] · local run · {args.config}", highlight=False)
    console.print(f"  data    {config.paths.data} ({rows} rows, {describe_spans(config)})\n"
                  f"  output  {config.paths.output}", highlight=False)
    if not args.force and report_up_to_date(config, fingerprint, console):
        return EXIT_OK
    from pipeline.console import ComponentProgress, output_to_log, quiet_library_noise
    from pipeline.local_runner import run_local

    log_file = config.paths.log_dir / f"run-{datetime.now():%Y%m%d-%H%M%S}.log"
    console.print(f"  log     {log_file}", highlight=False)
    quiet_library_noise()
    started = time.perf_counter()
    with output_to_log(log_file) as terminal:
        terminal.print("  loading TensorFlow and TFX…", highlight=False)
        progress = ComponentProgress(terminal)
        result = run_local(config, progress, rows)
        failed = progress.fail_current() if result.error else None
    wall_seconds = time.perf_counter() - started
    from pipeline import store as mlmd
    from pipeline.local_runner import metadata_connection
    from pipeline.summary import latest_run_summary, print_run_summary

    store = mlmd.open_store(metadata_connection(config))
    record_run_facts(store, config, args.config, result.error, fingerprint)
    summary = latest_run_summary(store, config.pipeline_name)
    files = {"Metadata": config.paths.metadata_path} if config.metadata.kind == "sqlite" else {}
    if summary is not None and config.monitoring.enabled:
        from pipeline.monitoring import write_run_metrics

        files["Metrics"] = write_run_metrics(summary, config.pipeline_name, config.metrics_dir)
    if summary is not None:
        files["Report"] = write_run_report(store, config, log_file)
    files["Log"] = log_file
    print_run_summary(console, summary, wall_seconds, result, failed, files)
    return EXIT_FAILED if result.error else EXIT_OK


def report_up_to_date(config: PipelineConfig, fingerprint: str, console: Console) -> bool:
    """Prints the last run's outcome and returns True when a rerun would only repeat it."""
    if config.metadata.kind == "sqlite" and not config.paths.metadata_path.exists():
        return False
    from pipeline import store as mlmd
    from pipeline.freshness import up_to_date_run
    from pipeline.local_runner import metadata_connection
    from pipeline.report import report_file_name
    from pipeline.summary import print_outcome, summarize_run

    store = mlmd.open_store(metadata_connection(config))
    run = up_to_date_run(store, config, fingerprint)
    if run is None:
        return False
    summary = summarize_run(store, run)
    console.print(f"\n[green]Up to date[/]: run {run.name} read the same data files, configuration, schema, "
                  "code and libraries, and finished. Nothing ran.", highlight=False)
    print_outcome(console, summary)
    files = {}
    if config.monitoring.enabled:
        from pipeline.monitoring import write_run_metrics

        # Rewritten so that the file's age tells a scrape that the schedule still runs.
        files["Metrics"] = write_run_metrics(summary, config.pipeline_name, config.metrics_dir)
    report = config.paths.output / "reports" / report_file_name(run.name)
    if report.exists():
        files["Report"] = report
    for label, path in files.items():
        console.print(f"  {label:<11} {path}", highlight=False, markup=False)
    console.print("`run --force` runs the pipeline anyway (TFX then reuses its cached components).",
                  highlight=False, markup=False)
    return True


def describe_spans(config: PipelineConfig) -> str:
    from pipeline.inputs import span_label

    label = span_label(config.paths.data, config.spans, config.window)
    return f"spans: {config.spans}" if label == "-" or config.spans == "all" else f"spans: {label}"


def record_run_facts(store, config: PipelineConfig, config_file: Path, error: BaseException | None,
                     fingerprint: str | None = None) -> None:
    """Stores the code version, config file, spans read and why it stopped on the newest run.

    TFX records a failed execution without its error, so the reason (e.g. the
    validation gate's findings) is kept here for `why`, `report` and `diff`.
    The input fingerprint lets the next `run` see that nothing changed.
    """
    from pipeline import store as mlmd
    from pipeline.freshness import run_facts
    from pipeline.inputs import span_label, user_code_version

    runs = mlmd.pipeline_runs(store, config.pipeline_name)
    if runs:
        facts = {
            **user_code_version(),
            "config_file": str(config_file.resolve()),
            "data_spans": span_label(config.paths.data, config.spans, config.window),
            **(run_facts(fingerprint, config.paths.serving_dir) if fingerprint else {}),
        }
        if error is not None:
            facts["stop_reason"] = str(error)[:4000]
        mlmd.annotate_run(store, runs[0], facts)


def write_run_report(store, config: PipelineConfig, log_file: Path) -> Path | str:
    """The HTML report of the newest run, next to the other outputs; a failure here never fails the run."""
    from pipeline import store as mlmd
    from pipeline.report import build_report, report_file_name, write_report

    run = mlmd.pipeline_runs(store, config.pipeline_name)[0]
    try:
        path = config.paths.output / "reports" / report_file_name(run.name)
        return write_report(build_report(store, run), path)
    except Exception as error:  # the run's outcome stands; say why there is no page
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(f"run report failed: {error!r}\n")
        return f"not written ({type(error).__name__}: {error}; see the log)"


def command_simulate(args: argparse.Namespace, console: Console) -> int:
    from pipeline import simulate
    from pipeline import store as mlmd
    from pipeline.console import output_to_log, quiet_library_noise
    from pipeline.local_runner import metadata_connection, run_local
    from pipeline.summary import latest_run_summary

    config = config_from_arguments(args)
    spans = simulate.span_numbers(config)
    log_file = config.paths.log_dir / f"simulate-{datetime.now():%Y%m%d-%H%M%S}.log"
    console.print(f"playing back {len(spans)} spans of {config.paths.data} into {config.paths.output} "
                  f"(log: {log_file})", highlight=False)
    quiet_library_noise()
    started = time.perf_counter()
    console.print(simulate.HEADER, highlight=False)
    for span in spans:
        span_config = config.model_copy(update={"spans": span})
        rows = check_input_data(span_config)
        with output_to_log(log_file):
            result = run_local(span_config, rows=rows)
        store = mlmd.open_store(metadata_connection(config))
        record_run_facts(store, span_config, args.config, result.error)
        write_run_report(store, config, log_file)
        row = simulate.outcome(span, rows, latest_run_summary(store, config.pipeline_name), result.error)
        console.print(row.line(), highlight=False, markup=False)
    console.print(f"played back {len(spans)} spans in {time.perf_counter() - started:.0f} s", highlight=False)
    return EXIT_OK


def kubeflow_config(args: argparse.Namespace) -> PipelineConfig:
    config = load_config(args.config, args.overrides, check_paths=False)
    if config.kubeflow is None:
        raise ConfigError(f"{args.config} has no kubeflow: section (see configs/kubeflow.yaml)")
    return config


def compile_for_kubeflow(config: PipelineConfig, output: Path, console: Console):
    from pipeline.console import output_to_log, quiet_library_noise

    quiet_library_noise()
    log_file = output.parent / "compile.log"
    console.print(f"compiling {config.pipeline_name} for Kubeflow Pipelines (loading TFX; log: {log_file})…",
                  highlight=False)
    try:
        with output_to_log(log_file):  # TensorFlow's start-up chatter goes to the log
            from pipeline.kubeflow import compile_pipeline

            compiled = compile_pipeline(config, output)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    console.print(f"[green]✔[/] {compiled.path}: pipeline {compiled.name}, schema {compiled.schema_version}, "
                  f"{len(compiled.tasks)} tasks, image {compiled.image}", highlight=False)
    for task, upstream in compiled.tasks.items():
        console.print(f"  {task:<20} after {', '.join(upstream) or '-'}", highlight=False)
    return compiled


def command_compile(args: argparse.Namespace, console: Console) -> int:
    compile_for_kubeflow(kubeflow_config(args), args.output, console)
    return EXIT_OK


def _package(args: argparse.Namespace, config: PipelineConfig, console: Console) -> Path:
    if args.package is None:
        return compile_for_kubeflow(config, args.output, console).path
    if not args.package.is_file():
        raise ConfigError(f"--package {args.package}: no such file")
    return args.package


def _server(args: argparse.Namespace):
    from configs.settings import kfp_endpoint
    from pipeline.kfp_submit import KubeflowPipelines

    if args.dry_run:
        return None
    host, token = kfp_endpoint(args.host)
    return KubeflowPipelines(host, token, args.namespace)


def _print_plan(console: Console, plan, dry_run: bool) -> None:
    import json

    heading = "dry run: nothing was sent. The requests would be:" if dry_run else "sent:"
    console.print(heading, highlight=False)
    for step in plan.steps:
        console.print("  " + json.dumps(step), highlight=False, markup=False)


def command_submit(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kfp_submit import submit

    config = kubeflow_config(args)
    server = _server(args)  # before compiling: a missing host fails in a second, not after TFX loads
    package = _package(args, config, console)
    plan = submit(server, package, config.pipeline_name, args.experiment or config.kubeflow.experiment,
                  args.pipeline_root or config.kubeflow.pipeline_root, args.run_name)
    _print_plan(console, plan, args.dry_run)
    return EXIT_OK


def command_schedule(args: argparse.Namespace, console: Console) -> int:
    from pipeline.kfp_submit import Trigger, schedule

    config = kubeflow_config(args)
    trigger = Trigger.parse(args.cron, args.every)
    server = _server(args)
    package = _package(args, config, console)
    plan = schedule(server, package, config.pipeline_name, args.experiment or config.kubeflow.experiment,
                    args.pipeline_root or config.kubeflow.pipeline_root, args.name, trigger, args.replace)
    _print_plan(console, plan, args.dry_run)
    return EXIT_OK


def command_schema_infer(args: argparse.Namespace, console: Console) -> int:
    from data.checks import load_schema
    from pipeline.console import quiet_library_noise
    from pipeline.inputs import data_source

    config = config_from_arguments(args)
    if config.paths.schema_file is None:
        raise ConfigError("paths.schema_file is null: there is no curated schema to compare with")
    root, pattern = data_source(config.paths.data, "all")
    quiet_library_noise()
    console.print(f"inferring a schema from {root}/{pattern} with TFDV…", highlight=False)
    from pipeline.schema_tools import compare, infer_from_csv

    inferred, statistics = infer_from_csv(f"{root}/{pattern}")
    differences = compare(load_schema(config.paths.schema_file), inferred, statistics)
    if args.write:
        from google.protobuf import text_format

        args.write.write_text(text_format.MessageToString(inferred), encoding="utf-8")
        console.print(f"inferred schema written to {args.write}", highlight=False)
    if not differences:
        console.print(f"[green]✔[/] no difference from {config.paths.schema_file}", highlight=False)
        return EXIT_OK
    console.print(f"{len(differences)} difference(s) from {config.paths.schema_file}:", highlight=False)
    for difference in differences:
        console.print(f"  {difference.one_line()}", highlight=False, markup=False)
    return EXIT_FAILED


def command_bench_trainer(args: argparse.Namespace, console: Console) -> int:
    import json

    from pipeline.bench import bench_trainer

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


def command_bench_all(args: argparse.Namespace, console: Console) -> int:
    import json

    from pipeline.bench import BenchPlan, bench_all, write_bench_docs

    def sizes(text: str) -> tuple[int, ...]:
        return () if text.strip() in ("", "none") else tuple(int(item) for item in text.split(","))

    if args.smoke:
        plan = BenchPlan(work=args.work.resolve(), pairs=1, template=False, sample_rows=800, sizes=(400,),
                         modes_at=(),
                         scale_overrides=("training.epochs=1",), trainer_pairs=0, evaluator_examples=100)
        results_file, docs = args.work / "results.json", args.work / "docs"
    else:
        plan = BenchPlan(work=args.work.resolve(), pairs=args.pairs, template=not args.no_template,
                         sample_rows=args.sample_rows, sizes=sizes(args.sizes), modes_at=sizes(args.modes_at),
                         scale_overrides=tuple(args.scale_set), trainer_pairs=args.trainer_pairs)
        results_file, docs = args.results, args.docs
    console.print(f"benchmarking into {plan.work} (logs in {plan.work / 'logs'}; results so far in "
                  "results-partial.json there)", highlight=False)
    partial = plan.work / "results-partial.json"

    def save(results: dict) -> None:
        partial.write_text(json.dumps(results, indent=2), encoding="utf-8")

    results = bench_all(plan, lambda line: console.print("  " + line, highlight=False), save)
    results["command"] = " ".join(["python -m pipeline bench all", *sys.argv[3:]])
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2), encoding="utf-8")
    partial.unlink(missing_ok=True)
    markdown, plot = write_bench_docs(results, results_file, docs)
    console.print(f"results {results_file}\ntable   {markdown}\nplot    {plot}", highlight=False)
    for key, value in results["summary"].items():
        console.print(f"  {key}: {value}", highlight=False)
    return EXIT_OK


def command_bench_render(args: argparse.Namespace, console: Console) -> int:
    import json

    from rich.markup import escape

    from pipeline.bench import write_bench_docs

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


def command_why(args: argparse.Namespace, console: Console) -> int:
    import json

    from pipeline import store as mlmd
    from pipeline.lineage import find_run, run_summary

    store, config = open_store_from_arguments(args)
    summary = run_summary(store, args.run, config.pipeline_name)
    if args.json:
        print(json.dumps({"run_id": summary.run_id, "verdict": summary.verdict,
                          "failed_components": summary.failed_components(),
                          "anomalies": [row.as_dict() for row in summary.anomalies]}, indent=2))
        return EXIT_OK
    console.print(f"Run {summary.run_id}", highlight=False)
    if summary.verdict is None:
        failed = summary.failed_components()
        where = f"it stopped at {', '.join(failed)}" if failed else "it did not reach the Verdict"
        console.print(f"  No verdict: {where}.", highlight=False)
        reason = mlmd.custom_value(find_run(store, args.run, config.pipeline_name), "stop_reason")
        if reason:
            console.print("  " + reason.replace("\n", "\n  "), highlight=False, markup=False)
        else:
            for row in summary.anomalies:
                console.print(f"  {row.one_line()}", highlight=False, markup=False)
        return EXIT_OK
    from pipeline.summary import verdict_lines

    for line in verdict_lines(summary.verdict):
        console.print("  " + line, highlight=False, markup=False)
    return EXIT_OK


def command_report(args: argparse.Namespace, console: Console) -> int:
    from pipeline.lineage import find_run
    from pipeline.report import build_report, report_file_name, write_report

    store, config = open_store_from_arguments(args)
    run = find_run(store, args.run, config.pipeline_name)
    store_file = Path(args.store) if args.store and Path(args.store).is_file() else None
    folder = store_file.parent if store_file else config.paths.output
    path = args.output or folder / "reports" / report_file_name(run.name)
    write_report(build_report(store, run), path)
    console.print(f"wrote {path}", highlight=False)
    return EXIT_OK


def command_models(args: argparse.Namespace, console: Console) -> int:
    import json
    from dataclasses import asdict

    from rich.table import Table

    from pipeline.lineage import pushed_models

    store, _ = open_store_from_arguments(args)
    rows = pushed_models(store)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
        return EXIT_OK
    if not rows:
        console.print("No model has been pushed yet.")
        return EXIT_OK
    table = Table("version", "pushed at", "run", "AUC", "accuracy", "path", box=None)
    for row in rows:
        table.add_row(row.version, row.pushed_at, row.run_id, _fixed(row.auc),
                      _fixed(row.binary_accuracy), row.path)
    console.print(table)
    return EXIT_OK


def _fixed(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Tables keep their columns when the output is a file or a pipe.
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    try:
        if args.command == "lineage" and args.lineage_command != "why":
            store, config = open_store_from_arguments(args)
            return args.handler(args, console, store, config)
        return args.handler(args, console)
    except ConfigError as error:
        console.print(f"configuration error: {error}", highlight=False, markup=False, style="red")
        return EXIT_USAGE
    except DataError as error:
        console.print(f"data error: {error}", highlight=False, markup=False, style="red")
        console.print("Nothing ran; nothing was pushed.", highlight=False)
        return EXIT_USAGE
    except StoreError as error:
        console.print(f"metadata store: {error}", highlight=False, markup=False, style="red")
        return EXIT_FAILED
    except SubmitError as error:
        console.print(f"kubeflow: {error}", highlight=False, markup=False, style="red")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
