"""Notifications against a real HTTP server on loopback, and real commands.

The unit tests send summaries through `notify` itself; the end-to-end ones run
the pipeline with a notify: section given by --set and read what the server
received: a blessed run, a run that is not blessed, a run refused for its data,
and a dead webhook beside a live one (logged, and the run still exits 0). A
secret in a webhook URL appears in no output and no log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from configs.settings import ConfigError, load_config
from pipeline.metadata import store as mlmd
from pipeline.run.notify import FAILURE, NOT_BLESSED, SUCCESS, notify, shown_url
from tests.conftest import PROJECT_ROOT, run_pipeline_cli, store_of

SECRET = "s3cr3t-t0ken-do-not-log"


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers with `status`."""

    def __init__(self, status: int = 204):
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/taxi?token={SECRET}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def dead_url() -> str:
    """A loopback port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook?token={SECRET}"


def config_with(webhooks: str = "[]", commands: str = "[]"):
    return load_config(None, [f"notify.webhooks={webhooks}", f"notify.commands={commands}"],
                       check_paths=False)


def summary(event: str) -> dict:
    return {"version": 1, "pipeline": "taxi-tfx", "event": event, "run_id": "R"}


def test_only_targets_that_asked_for_the_event_get_it(receiver, tmp_path):
    config = config_with(f'[{{url: "{receiver.url}", events: [failure]}}]')
    log = tmp_path / "run.log"
    assert notify(config, summary(SUCCESS), log, []) == []
    (delivery,) = notify(config, summary(FAILURE), log, [])
    assert delivery.ok and delivery.detail == "HTTP 204"
    assert receiver.bodies == [summary(FAILURE)] and receiver.paths == [f"/hooks/taxi?token={SECRET}"]


def test_a_failing_webhook_is_logged_without_its_secret(tmp_path):
    refusing = Receiver(status=500)
    try:
        config = config_with(f'[{{url: "{refusing.url}"}}, {{url: "{dead_url()}"}}]')
        log = tmp_path / "run.log"
        deliveries = notify(config, summary(NOT_BLESSED), log, [])
    finally:
        refusing.close()
    assert [d.ok for d in deliveries] == [False, False]
    assert deliveries[0].detail.startswith("HTTP 500")
    assert "refused" in deliveries[1].detail.lower()
    text = log.read_text()
    assert text.count("failed") == 2 and SECRET not in text and "token" not in text
    assert f"webhook http://127.0.0.1:{refusing.server.server_port}/…" in text


def test_a_url_from_the_environment_is_a_secret_everywhere(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_HOOK", receiver.url)
    config = config_with("[{url_env: TEAM_HOOK}]")
    (delivery,) = notify(config, summary(SUCCESS), tmp_path / "log", [])
    assert delivery.ok and receiver.bodies
    from configs.settings import secret_values

    assert receiver.url in secret_values(config)
    monkeypatch.delenv("TEAM_HOOK")
    (unset,) = notify(config, summary(SUCCESS), tmp_path / "log", [])
    assert not unset.ok and "TEAM_HOOK: not set" in unset.detail


def test_a_command_gets_the_summary_on_stdin_and_a_failing_one_is_logged(tmp_path):
    out = tmp_path / "got.json"
    script = (f"import sys, os; open({str(out)!r}, 'w')"
              ".write(os.environ['TAXI_TFX_NOTIFY_EVENT'] + sys.stdin.read())")
    config = config_with(commands=json.dumps([
        {"command": [sys.executable, "-c", script]},
        {"command": [sys.executable, "-c", "import sys; sys.exit('no mail server')"]},
        {"command": [str(tmp_path / "missing.sh")]}]))
    deliveries = notify(config, summary(FAILURE), tmp_path / "log", [])
    assert [d.ok for d in deliveries] == [True, False, False]
    assert out.read_text() == FAILURE + json.dumps(summary(FAILURE))
    assert deliveries[1].detail == "exit 1: no mail server"
    assert "not found" in deliveries[2].detail


def test_bad_notify_settings_name_the_key_and_never_repeat_the_url():
    with pytest.raises(ConfigError, match=r"notify\.webhooks\.0: a webhook needs exactly one of url and"):
        config_with('[{url: "http://h/x", url_env: "A"}]')
    with pytest.raises(ConfigError, match=r"notify\.webhooks\.0\.url: holds credentials") as error:
        config_with('[{url: "https://bot:hunter2@h/x"}]')
    from pipeline.shared.redaction import redact

    assert "hunter2" not in redact(str(error.value))
    with pytest.raises(ConfigError, match=r"notify\.commands\.0\.events\.0: Input should be"):
        config_with(commands='[{command: [x], events: [sucess]}]')


def test_shown_url_keeps_only_scheme_host_and_port():
    assert shown_url(f"https://hooks.example.com/services/T0/B0/{SECRET}") == "https://hooks.example.com/…"
    assert shown_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/"


@pytest.mark.e2e
def test_runs_notify_success_not_blessed_and_refused_data(receiver, taxi_sample_dir, tmp_path):
    output = tmp_path / "out"
    hooks = f'notify.webhooks=[{{url: "{receiver.url}"}}, {{url: "{dead_url()}"}}]'
    blessed = run_pipeline_cli(taxi_sample_dir, output, "--set", hooks)
    assert blessed.returncode == 0, blessed.stdout + blessed.stderr  # a dead webhook never fails the run
    (run,) = mlmd.pipeline_runs(store_of(output))
    (sent,) = receiver.bodies
    assert (sent["event"], sent["run_id"], sent["blessed"]) == (SUCCESS, run.name, True)
    assert sent["pushed_version"] and sent["metrics"]["auc"] > 0.5 and sent["error"] is None
    assert "Notified    1 of 2 sent; webhook http://127.0.0.1:" in blessed.stdout
    log = next((output / "logs").glob("run-*.log")).read_text()
    assert "notification (success)" in log
    assert SECRET not in blessed.stdout + blessed.stderr + log

    refused = run_pipeline_cli(taxi_sample_dir, output, "--force", "--set", hooks, "--set",
                               "evaluation.thresholds=[{metric: auc, lower_bound: 0.9999}]")
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert [body["event"] for body in receiver.bodies] == [SUCCESS, NOT_BLESSED]
    assert receiver.bodies[1]["blessed"] is False and receiver.bodies[1]["pushed_version"] is None

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    rows = (taxi_sample_dir / "data.csv").read_text().splitlines()
    (hostile / "data.csv").write_text("\n".join([rows[0], rows[1], "1,2,3"]) + "\n")
    bad = subprocess.run([sys.executable, "-m", "pipeline", "run", "--data", str(hostile), "--output",
                          str(output), "--set", hooks], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ})
    assert bad.returncode == 2, bad.stdout + bad.stderr
    third = receiver.bodies[2]
    assert third["event"] == FAILURE and third["run_id"] is None
    assert str(Path(hostile / "data.csv")) in third["error"] and "line 3" in third["error"]
    assert SECRET not in bad.stdout + bad.stderr
