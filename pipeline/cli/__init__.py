"""Command line: ``python -m pipeline <command>``.

One module per group of commands (run, runs, lineage, kubeflow); this one
builds the parser and dispatches. Every handler is ``handler(args, console) ->
exit code``. Commands that do not train (help, config checks, lineage) never
import TensorFlow; `run` imports it only after the configuration and the data
have been checked. Nothing outside this package imports from it.
"""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from configs.settings import ConfigError
from data.errors import DataError
from pipeline.cli import kubeflow, lineage, run, runs
from pipeline.cli.common import EXIT_FAILED, EXIT_USAGE
from pipeline.kfp_submit import SubmitError
from pipeline.store import StoreError

# The benchmarks are developer tooling outside the runtime package; this
# command hands over to their own entry point without importing them.
BENCHMARKS_MODULE = "benchmarks"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="TFX pipeline on the Chicago taxi data: run locally, inspect lineage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(commands)
    runs.register(commands)
    lineage.register(commands)
    bench = commands.add_parser("bench", add_help=False,
                                help=f"measure performance on this machine (= python -m {BENCHMARKS_MODULE})")
    bench.add_argument("arguments", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=command_bench)
    kubeflow.register(commands)
    return parser


def command_bench(args: argparse.Namespace, console: Console) -> int:
    """Replaces this process with `python -m benchmarks ARGUMENTS` (same interpreter, same folder)."""
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", BENCHMARKS_MODULE, *args.arguments])
    return EXIT_FAILED  # not reached


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every argument, --help included, belongs to the benchmarks
        return command_bench(argparse.Namespace(arguments=argv[1:]), Console())
    args = build_parser().parse_args(argv)
    # Tables keep their columns when the output is a file or a pipe.
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    try:
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
