"""What the user sees during a run: one line per component, the full log in a file.

TFX, Beam, absl and TensorFlow write hundreds of lines per run to stdout and
stderr, some of them from C++. While the pipeline runs, both file descriptors
point at the log file, and progress goes to a console bound to the original
terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.console import Console

from pipeline.shared.redaction import redact

RUNNING = re.compile(r"^Component (\S+) is running\.$")
FINISHED = re.compile(r"^Component (\S+) is finished\.$")
CACHED = re.compile(r"^A cached execution \d+ is used\.$")


def progress_line(name: str, seconds: float, note: str, failed: bool = False) -> str:
    """One finished component's (or Kubeflow task's) line: mark, name, time, note."""
    mark = "[red]✘[/]" if failed else "[green]✔[/]"
    return f"  {mark} {name:<32} {seconds:6.1f}s  {note}"


class ComponentProgress(logging.Handler):
    """Turns the local runner's log lines into one progress line per component."""

    def __init__(self, console: Console):
        super().__init__(level=logging.INFO)
        self.console = console
        self.current: str | None = None
        self.started = 0.0
        self.cached = False
        self._status = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := RUNNING.match(message):
            self._start(match.group(1))
        elif CACHED.match(message):
            self.cached = True
        elif match := FINISHED.match(message):
            self._finish(match.group(1))

    def _start(self, component: str) -> None:
        self.current, self.started, self.cached = component, time.perf_counter(), False
        # On a terminal a spinner shows what runs; in a log, only finished lines.
        if self.console.is_terminal:
            self._status = self.console.status(f"{component} running…")
            self._status.start()

    def _finish(self, component: str) -> None:
        self._stop_status()
        seconds = time.perf_counter() - self.started
        note = "cached" if self.cached else "done"
        self.console.print(progress_line(component, seconds, note), highlight=False)
        self.current = None

    def fail_current(self) -> str | None:
        """Marks the running component as failed; returns its name."""
        self._stop_status()
        if self.current:
            seconds = time.perf_counter() - self.started
            self.console.print(progress_line(self.current, seconds, "FAILED", failed=True), highlight=False)
        return self.current

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def quiet_library_noise() -> None:
    """Silences warnings users cannot act on; they still reach the log file."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # google-api-core warns dozens of times that Python 3.10 is past end of life.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


@contextlib.contextmanager
def importing_in_background(module: str) -> Iterator[None]:
    """Imports `module` on a thread while the block runs (TensorFlow: about 2 s of start-up).

    The block's own work (reading and checking a CSV file in Arrow) releases the
    GIL, so the two overlap. The thread is joined on the way out, error or not, so
    the import never writes to a terminal that output_to_log has given back.
    """

    def load() -> None:
        with contextlib.suppress(Exception):  # the caller's own import raises it again, in context
            __import__(module)

    thread = threading.Thread(target=load, name=f"import-{module}")
    thread.start()
    try:
        yield
    finally:
        thread.join()


class RedactingPump:
    """A pipe whose reader thread writes each line to the log with secrets masked.

    stdout, stderr and Python logging all write into the pipe, so text from C++,
    from child processes (Beam workers) and from logging passes the same filter
    before it reaches the file. Only whole lines are redacted and written, so a
    secret split across two reads is still caught.
    """

    def __init__(self, log, secrets: Sequence[str]):
        self.log, self.secrets = log, list(secrets)
        self.read_fd, self.write_fd = os.pipe()
        self.thread = threading.Thread(target=self._pump, name="log-redaction", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # the log closed under a straggling child
            self._copy_lines()

    def _copy_lines(self) -> None:
        pending = b""
        while chunk := os.read(self.read_fd, 65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self.log.write(redact(line.decode("utf-8", "replace"), self.secrets) + "\n")
            self.log.flush()
        if pending:
            self.log.write(redact(pending.decode("utf-8", "replace"), self.secrets) + "\n")
            self.log.flush()

    def close(self, seconds: float = 10.0) -> None:
        """Ends the pipe; a child process still holding it only delays this by `seconds`."""
        os.close(self.write_fd)
        self.thread.join(seconds)
        if not self.thread.is_alive():
            os.close(self.read_fd)


@contextlib.contextmanager
def output_to_log(log_file: Path, secrets: Sequence[str] = ()) -> Iterator[Console]:
    """Sends stdout, stderr and Python logging to log_file, secrets masked; yields a terminal console."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    console = Console(file=terminal, force_terminal=os.isatty(saved_out) or None, soft_wrap=True)
    root = logging.getLogger()
    previous = (root.level, list(root.handlers))
    with open(log_file, "a", buffering=1, encoding="utf-8") as log:
        pump = RedactingPump(log, secrets)
        os.dup2(pump.write_fd, 1)
        os.dup2(pump.write_fd, 2)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        _quiet_absl()
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            pump.close()
            logging.getLogger("absl").setLevel(logging.WARNING)
            root.setLevel(previous[0])
            root.handlers = previous[1]
            logging.captureWarnings(False)
            terminal.close()


def _quiet_absl() -> None:
    """Routes absl logging through Python logging at INFO, without absl's stderr handler."""
    absl_logger = logging.getLogger("absl")
    absl_logger.setLevel(logging.INFO)
    absl_logger.propagate = True
    for handler in list(absl_logger.handlers):
        absl_logger.removeHandler(handler)
