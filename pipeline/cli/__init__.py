"""Command line: ``python -m pipeline <command>``.

One module per group of commands (run, runs, lineage, kubeflow); this one
builds the parser and dispatches. Every handler is ``handler(args, console) ->
exit code``. Commands that do not train (help, config checks, lineage) never
import TensorFlow; `run` imports it only after the configuration and the data
have been checked. Nothing outside this package imports from it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import sys
import tempfile
import threading
import traceback
from datetime import datetime
from pathlib import Path

from rich.console import Console

from configs.settings import ConfigError, secret_values
from data.errors import DataError
from pipeline.cli import kubeflow, lineage, predict, prune, rerun, run, run_spec, runs, schedule_actions
from pipeline.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_USAGE
from pipeline.kubeflow.submit import RefusedRequest, SubmitError
from pipeline.metadata.store import StoreError, StoreNotFound
from pipeline.run.lock import RunLockBusy
from pipeline.shared.redaction import redact

# The benchmarks are developer tooling outside the runtime package; this
# command hands over to their own entry point without importing them.
BENCHMARKS_MODULE = "benchmarks"
# The commands that would have run the pipeline; only they can say nothing was pushed.
RUN_COMMANDS = ("run", "rerun", "simulate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="TFX pipeline on the Chicago taxi data: run locally, inspect lineage.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(commands)
    rerun.register(commands)
    runs.register(commands)
    lineage.register(commands)
    predict.register(commands)
    prune.register(commands)
    bench = commands.add_parser("bench", add_help=False,
                                help=f"measure performance on this machine (= python -m {BENCHMARKS_MODULE})")
    bench.add_argument("arguments", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=command_bench)
    kubeflow.register(commands)
    schedule_actions.register(commands.choices["schedule"])
    run_spec.register(commands)
    return parser


def command_bench(args: argparse.Namespace, console: Console) -> int:
    """Replaces this process with `python -m benchmarks ARGUMENTS` (same interpreter, same folder)."""
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", BENCHMARKS_MODULE, *args.arguments])
    return EXIT_FAILED  # not reached


def exit_process(code: int) -> None:
    """Ends the process with `code`; after TensorFlow was loaded, without the interpreter's teardown.

    Tearing down a process that loaded TensorFlow, TFX and Beam took 2.6 s on
    the taxi run (from the last atexit handler to the process's end, measured):
    garbage collection and C++ destructors, with nothing left to write. What
    must reach a file or the terminal is finished first: atexit handlers run,
    logging handlers flush and close, stdout and stderr flush. While a
    non-daemon thread still runs, the interpreter's normal exit waits for it.
    """
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if "tensorflow" not in sys.modules or any(t.is_alive() for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every argument, --help included, belongs to the benchmarks
        return command_bench(argparse.Namespace(arguments=argv[1:]), Console())
    args = build_parser().parse_args(argv)
    # Tables keep their columns when the output is a file or a pipe.
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

    def error_line(text: str) -> None:
        console.print(redact(text, secret_values()), highlight=False, markup=False, style="red")

    try:
        return args.handler(args, console)
    except ConfigError as error:
        error_line(f"configuration error: {error}")
        return EXIT_USAGE
    except DataError as error:
        error_line(f"data error: {error}")
        if args.command in RUN_COMMANDS:
            console.print("Nothing ran; nothing was pushed.", highlight=False)
        return EXIT_USAGE
    except StoreNotFound as error:
        error_line(f"metadata store: {error}")
        return EXIT_USAGE
    except StoreError as error:
        error_line(f"metadata store: {error}")
        return EXIT_FAILED
    except RunLockBusy as error:
        error_line(f"{error}. Nothing ran; `--wait [SECONDS]` waits for it.")
        return EXIT_LOCKED
    except RefusedRequest as error:
        error_line(f"kubeflow: {error}")
        return EXIT_USAGE
    except SubmitError as error:
        error_line(f"kubeflow: {error}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        error_line("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug or an environment problem: one line here, the traceback in a file
        details = write_error_log(args.command)
        error_line(f"unexpected error: {type(error).__name__}: {error} (details: {details})")
        return EXIT_FAILED


def write_error_log(command: str) -> str:
    """The current exception's traceback, secrets masked, in a file only this user can read.

    The folder is per user: a shared one made by another user (root, say) would
    refuse the file. When no file can be written the traceback goes to stderr,
    so a failure to report never hides the failure itself.
    """
    text = redact(traceback.format_exc(), secret_values())
    folder = Path(tempfile.gettempdir()) / f"taxi-tfx-errors-{os.getuid()}"
    path = folder / f"{command}-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        sys.stderr.write(text)
        return f"{path} could not be written ({error.strerror}); the traceback is on stderr"
    return str(path)
