"""What a local run of a compiled spec reports: each task's state and outputs, the run's record."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

COMPLETE, CACHED, FAILED, NOT_STARTED = "COMPLETE", "CACHED", "FAILED", "NOT_STARTED"
# The last line of a Python traceback, `SomeError: message`, and a log line's start (absl, logging).
ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit|Interrupt)\b.*")
LOG_LINE = re.compile(r"^([IWEF]\d{4} |\d{4}-\d\d-\d\d |Traceback )")
ERROR_LINES_KEPT = 20


@dataclass
class TaskResult:
    name: str
    state: str
    seconds: float = 0.0
    error: str | None = None
    fingerprint: str | None = None
    cached_from: str | None = None
    executor_input: dict | None = None
    # Output key -> runtime artifacts (name, type, uri, metadata), as passed downstream.
    outputs: dict[str, list[dict]] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"name": self.name, "state": self.state, "seconds": round(self.seconds, 1),
                "error": self.error, "fingerprint": self.fingerprint, "cached_from": self.cached_from,
                "outputs": {key: [item["uri"] for item in items] for key, items in self.outputs.items()}}


@dataclass
class SpecRunResult:
    run_id: str
    pipeline_name: str
    root: Path
    tasks: dict[str, TaskResult]

    @property
    def failed(self) -> list[TaskResult]:
        return [task for task in self.tasks.values() if task.state == FAILED]

    @property
    def succeeded(self) -> bool:
        return all(task.state in (COMPLETE, CACHED) for task in self.tasks.values())

    def summary(self) -> dict:
        return {"run_id": self.run_id, "pipeline": self.pipeline_name, "root": str(self.root),
                "state": "SUCCEEDED" if self.succeeded else "FAILED",
                "tasks": [task.summary() for task in self.tasks.values()]}


class ErrorTail:
    """The last exception a task printed, with the lines of its message that follow it."""

    def __init__(self):
        self.lines: list[str] = []
        self.closed = False

    def add(self, line: str) -> None:
        if ERROR_LINE.match(line):
            self.lines, self.closed = [line], False
        elif self.lines and not self.closed:
            # A log line (or too long a message) ends the exception's message.
            if LOG_LINE.match(line) or len(self.lines) >= ERROR_LINES_KEPT:
                self.closed = True
            else:
                self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip()
