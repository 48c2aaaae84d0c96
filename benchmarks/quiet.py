"""Is the machine quiet enough to measure on? Checked before each pair and recorded with it.

A pair measured while something else ran (tests, a build, a second benchmark)
is not a figure: the other process takes cores from one side of the pair more
than from the other. Before each pair the benchmark samples every other
process's CPU time for a moment and reads the load average; it waits for
quiet up to a limit, then measures anyway and marks the pair busy. The summary
is taken over the quiet pairs whenever there are any.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

import psutil

# Other processes together may use this share of one core and still count as quiet.
OTHER_CPU_LIMIT_PERCENT = 15.0
SAMPLE_SECONDS = 2.0
POLL_SECONDS = 10.0


@dataclass
class MachineState:
    load_average: tuple[float, float, float]
    other_cpu_percent: float  # of one core, every process outside this benchmark, over the sample
    busiest: list[dict] = field(default_factory=list)  # the top other processes: pid, name, cpu_percent
    cores: int = 1
    waited_seconds: float = 0.0

    @property
    def quiet(self) -> bool:
        # The 1-minute load still carries the benchmark's own last run for a while, so
        # the test is what others use now; the load only rules out a saturated machine.
        return self.other_cpu_percent <= OTHER_CPU_LIMIT_PERCENT and self.load_average[0] <= self.cores

    def as_dict(self) -> dict:
        return {**asdict(self), "quiet": self.quiet}


def _ours() -> set[int]:
    me = psutil.Process()
    return {me.pid, *(child.pid for child in me.children(recursive=True))}


def machine_state(sample_seconds: float = SAMPLE_SECONDS) -> MachineState:
    """CPU used by every process outside this one and its children over `sample_seconds`."""
    ours = _ours()
    processes = [p for p in psutil.process_iter(["name"]) if p.pid not in ours]
    before = {}
    for process in processes:
        try:
            times = process.cpu_times()
            before[process.pid] = (process, times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    started = time.monotonic()
    time.sleep(sample_seconds)
    elapsed = time.monotonic() - started
    used = []
    for pid, (process, cpu_before) in before.items():
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        percent = 100.0 * (times.user + times.system - cpu_before) / elapsed
        if percent > 0:
            used.append({"pid": pid, "name": process.info["name"], "cpu_percent": round(percent, 1)})
    used.sort(key=lambda row: -row["cpu_percent"])
    return MachineState(load_average=tuple(round(x, 2) for x in os.getloadavg()),
                        other_cpu_percent=round(sum(row["cpu_percent"] for row in used), 1),
                        busiest=used[:3], cores=psutil.cpu_count() or 1)


def wait_for_quiet(max_wait_seconds: float, report=lambda line: None) -> MachineState:
    """The machine's state once it is quiet, or after max_wait_seconds (then marked busy)."""
    started = time.monotonic()
    state = machine_state()
    while not state.quiet and time.monotonic() - started < max_wait_seconds:
        report(f"machine busy ({describe(state)}); waiting")
        time.sleep(POLL_SECONDS)
        state = machine_state()
    state.waited_seconds = round(time.monotonic() - started, 1)
    return state


def describe(state: MachineState) -> str:
    others = ", ".join(f"{row['name']} {row['cpu_percent']}%" for row in state.busiest) or "none"
    return (f"load {state.load_average[0]:.2f}, other processes {state.other_cpu_percent:.0f}% of a core "
            f"({others})")
