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
import os
import signal
from collections.abc import Iterator

from pipeline.metadata.run_facts import INTERRUPTED_PREFIX

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(Exception):
    """A signal stopped the run.

    Keras re-raises an exception from inside a model call as a new instance of
    the same class with a longer message, so the constructor also accepts a
    message, and the signal number is then the one last received.
    """

    last_signal = signal.SIGTERM

    def __init__(self, signum_or_message: int | str):
        if isinstance(signum_or_message, int):
            self.signum = signum_or_message
            message = f"{INTERRUPTED_PREFIX}{signal.Signals(signum_or_message).name}"
        else:
            self.signum, message = int(RunInterrupted.last_signal), str(signum_or_message)
        super().__init__(message)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise RunInterrupted; a second signal, should the first be swallowed, kills."""

    def stop(signum, frame):
        for number in SIGNALS:
            signal.signal(number, hard_stop)
        RunInterrupted.last_signal = signum
        raise RunInterrupted(signum)

    def hard_stop(signum, frame):
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

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
