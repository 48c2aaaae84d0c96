"""Notifications after a run: its JSON summary POSTed to webhooks, and given to commands on stdin.

What is sent is `run_summary` (or `refused_summary`, for a run the pre-flight
check refused); who gets it, the configuration's notify: section. A failed
delivery (a refused connection, an HTTP error, a timeout, a command's non-zero
exit) is written to the run's log and returned for the terminal: it never
fails the run. A webhook URL is only ever shown as scheme://host:port/…,
since webhook URLs often carry their secret in the path or the query.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from components.versioned_pusher.properties import PUSHED_VERSION
from configs.settings import ConfigError, PipelineConfig
from pipeline.metadata import run_facts
from pipeline.shared.redaction import redact

SUCCESS, FAILURE, NOT_BLESSED = "success", "failure", "not_blessed"
# The summary's shape; a receiver can check it.
SUMMARY_VERSION = 1
# The event, for a command that does not parse its input.
EVENT_VARIABLE = "TAXI_TFX_NOTIFY_EVENT"
ERROR_LIMIT = 2000


@dataclass(frozen=True)
class Delivery:
    target: str  # "webhook https://host/…" or "command notify.sh": never a whole URL
    ok: bool
    detail: str  # "HTTP 204", "exit 0", or what went wrong

    def line(self) -> str:
        return f"{self.target}: {'sent' if self.ok else 'failed'} ({self.detail})"


def shown_url(url: str) -> str:
    """scheme://host:port/…: what a log may say of a webhook URL."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else "/"
    return f"{parts.scheme}://{parts.hostname}{port}{rest}"


def event_of(outcome, error: BaseException | None) -> str:
    if error is not None or outcome is None:
        return FAILURE
    return SUCCESS if outcome.blessed else NOT_BLESSED


def run_summary(config: PipelineConfig, result) -> dict:
    """The JSON summary of a run the run service executed (a RunResult)."""
    outcome = result.outcome
    overall = ((outcome.verdict or {}).get("slices", {}).get("Overall", {}) if outcome else {})
    report = result.files.get("Report")
    return {
        **_header(config, event_of(outcome, result.error)),
        "run_id": result.run_id,
        "status": outcome.status if outcome else "failed before TFX registered the run",
        "blessed": outcome.blessed if outcome else None,
        **(outcome.push_facts() if outcome else {PUSHED_VERSION: None}),
        "metrics": {name: overall.get(name) for name in ("auc", "binary_accuracy")},
        "failed_component": result.failed_component,
        "error": (result.error_text or None) and result.error_text[:ERROR_LIMIT],
        "seconds": round(result.wall_seconds, 1),
        "report": str(report) if isinstance(report, Path) else None,
        **(run_facts.rerun_facts(outcome.run) if outcome else {}),
    }


def refused_summary(config: PipelineConfig, error: Exception, secrets: Sequence[str]) -> dict:
    """The summary of a run that never started: the pre-flight check refused its data or folders."""
    return {**_header(config, FAILURE), "run_id": None, "status": "refused before it started",
            "blessed": None, PUSHED_VERSION: None,
            "error": redact(str(error), secrets)[:ERROR_LIMIT]}


def _header(config: PipelineConfig, event: str) -> dict:
    return {"version": SUMMARY_VERSION, "pipeline": config.pipeline_name, "event": event,
            "host": socket.gethostname(), "user": getpass.getuser()}


def notify(config: PipelineConfig, summary: dict, log_file: Path, secrets: Sequence[str]) -> list[Delivery]:
    """Sends the summary to every target that asked for its event; each delivery is logged."""
    event, body = summary["event"], json.dumps(summary, default=str)
    deliveries = [_post(config, hook, body) for hook in config.notify.webhooks if event in hook.events]
    deliveries += [_run_command(command, body, event) for command in config.notify.commands
                   if event in command.events]
    if deliveries:
        _log(log_file, event, deliveries, secrets)
    return deliveries


def _post(config: PipelineConfig, hook, body: str) -> Delivery:
    try:
        url = config.webhook_url(hook)
    except ConfigError as error:
        return Delivery(f"webhook from {hook.url_env}", False, str(error))
    target = f"webhook {shown_url(url)}"
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": f"{config.pipeline_name} notify"})
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout_seconds) as response:
            return Delivery(target, True, f"HTTP {response.status}")
    except urllib.error.HTTPError as error:  # before URLError: it is one
        return Delivery(target, False, f"HTTP {error.code} {error.reason}")
    except urllib.error.URLError as error:
        return Delivery(target, False, _without(str(error.reason), url))
    except (TimeoutError, OSError) as error:
        return Delivery(target, False, _without(f"{type(error).__name__}: {error}", url))


def _run_command(command, body: str, event: str) -> Delivery:
    target = f"command {Path(command.command[0]).name}"
    try:
        finished = subprocess.run(command.command, input=body, text=True, capture_output=True,
                                  timeout=command.timeout_seconds, env={**os.environ, EVENT_VARIABLE: event})
    except FileNotFoundError:
        return Delivery(target, False, f"{command.command[0]} not found")
    except subprocess.TimeoutExpired:
        return Delivery(target, False, f"no exit within {command.timeout_seconds:g} s; killed")
    except OSError as error:
        return Delivery(target, False, str(error))
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or [""])[-1][:200]
        return Delivery(target, False, f"exit {finished.returncode}" + (f": {last}" if last else ""))
    return Delivery(target, True, "exit 0")


def _without(text: str, url: str) -> str:
    return text.replace(url, shown_url(url))


def _log(log_file: Path, event: str, deliveries: list[Delivery], secrets: Sequence[str]) -> None:
    """Appends one line per delivery to the run's log; a log that cannot be written loses only these lines."""
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as log:
            for delivery in deliveries:
                log.write(redact(f"notification ({event}): {delivery.line()}\n", secrets))
    except OSError:
        pass
