"""The benchmark's check for a quiet machine, against real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from benchmarks.quiet import machine_state
from benchmarks.suite import quiet_only, spread

pytestmark = pytest.mark.unit

BURN = "while True: pass"


def test_another_process_burning_a_core_makes_the_machine_busy_and_is_named():
    # A grandchild, re-parented once its parent exits: another process, not the benchmark's own.
    starter = subprocess.run(
        [sys.executable, "-c", "import subprocess, sys; "
         f"print(subprocess.Popen([sys.executable, '-c', {BURN!r}], start_new_session=True, "
         "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"],
        capture_output=True, text=True, timeout=30, check=True)
    burner = int(starter.stdout)
    try:
        state = machine_state(sample_seconds=1.0)
        assert burner in [row["pid"] for row in state.busiest]
        assert state.other_cpu_percent >= 50
        assert not state.quiet and state.as_dict()["quiet"] is False
    finally:
        os.kill(burner, signal.SIGKILL)


def test_the_benchmarks_own_child_processes_do_not_count():
    child = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        state = machine_state(sample_seconds=1.0)
        assert child.pid not in [row["pid"] for row in state.busiest]
    finally:
        child.kill()
        child.wait()


def test_summaries_use_the_quiet_pairs_and_report_min_median_max():
    pairs = [{"machine": {"quiet": True}, "s": 10.0}, {"machine": {"quiet": False}, "s": 99.0},
             {"machine": {"quiet": True}, "s": 12.0}, {"s": 11.0}]
    counted = quiet_only(pairs)
    assert [p["s"] for p in counted] == [10.0, 12.0, 11.0], "busy pairs left out; unchecked ones kept"
    assert quiet_only([pairs[1]]) == [pairs[1]], "all busy: every pair, still marked"
    assert spread([p["s"] for p in counted]) == {"min": 10.0, "median": 11.0, "max": 12.0}
    assert spread([None]) is None
