"""SIGTERM and Ctrl-C during a run: stop cleanly instead of dying mid-write.

While the pipeline runs, both signals raise RunInterrupted in the main thread.
It is an ordinary exception, so TFX's launcher treats it like any executor
failure: it removes the component's unfinished output folders and records the
execution as failed. The run service then records why the run stopped, marks
whatever is still RUNNING as CANCELED, and the command exits with 128 + the
signal number, as a shell expects of a process stopped by a signal.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from pipeline.run_facts import INTERRUPTED_PREFIX

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(Exception):
    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"{INTERRUPTED_PREFIX}{signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise RunInterrupted once; later ones are ignored while the run winds down."""

    def stop(signum, frame):
        for number in SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise RunInterrupted(signum)

    previous = {number: signal.signal(number, stop) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """For the few seconds after a stop in which the run's facts are recorded."""
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
