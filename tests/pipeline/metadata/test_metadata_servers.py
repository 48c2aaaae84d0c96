"""The pipeline records to a shared MLMD on PostgreSQL or MariaDB, and lineage reads it back.

Real servers from Debian's packages, started on loopback by the test (see
db_servers.py); a small real pipeline run on 1,000 taxi rows writes to each.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from urllib.parse import urlparse

import pytest

from data.prepare import write_sample
from tests.conftest import PROJECT_ROOT, RUN_OVERRIDES, cli
from tests.db_servers import dump_database, mariadb_server, postgres_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small_sample")
    write_sample(folder, 1000)
    return folder


def _metadata_overrides(url: str) -> list[str]:
    parsed = urlparse(url)
    kind = "postgresql" if parsed.scheme.startswith("postgres") else "mysql"
    values = {"kind": kind, "host": parsed.hostname, "port": parsed.port,
              "user": parsed.username, "database": parsed.path.lstrip("/")}
    return [item for key, value in values.items() for item in ("--set", f"metadata.{key}={value}")]


# A password only these tests know; it must never reach a file, the database or the terminal.
PASSWORD = "pw-1f3a9c-never-written"


def _all_written_text(folder) -> str:
    return "\n".join(path.read_bytes().decode("latin-1") for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("server", [postgres_server, mariadb_server], ids=["postgresql", "mariadb"])
def test_pipeline_records_to_the_server_and_lineage_reads_it_back(server, small_sample, tmp_path):
    env = {**os.environ, "TAXI_TFX_METADATA_PASSWORD": PASSWORD}
    with server(password=PASSWORD) as url:
        run_command = cli("run", "--data", str(small_sample), "--output", str(tmp_path / "a"), *RUN_OVERRIDES,
                          "--set", "training.epochs=2", *_metadata_overrides(url))
        first = subprocess.Popen(run_command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=env)
        _wait_for_a_component(tmp_path / "a")
        # Another machine's run on the same store and pipeline (another output folder) must wait.
        other_folder = [str(tmp_path / "b") if part == str(tmp_path / "a") else part for part in run_command]
        second = subprocess.run(other_folder, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                                env=env)
        output, _ = first.communicate(timeout=900)
        assert first.returncode == 0, output
        assert second.returncode == 3, second.stdout + second.stderr
        assert "another run is using the metadata store" in second.stdout
        if "postgres" in url:
            assert f"taxi-tfx pid {first.pid} on" in second.stdout, second.stdout
        assert not (tmp_path / "a" / "metadata.sqlite").exists(), "nothing may go to the local SQLite file"

        def lineage(*arguments):
            result = subprocess.run(cli("lineage", *arguments, "--store", url, "--json"),
                                    cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, env=env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert PASSWORD not in result.stdout + result.stderr
            return json.loads(result.stdout)

        runs = lineage("runs")
        assert len(runs) == 1 and runs[0]["status"] == "complete"
        assert runs[0]["states"]["Trainer"] == "COMPLETE"
        target = "latest-pushed" if runs[0]["pushed_version"] else runs[0]["run_id"]
        tree = lineage("trace", target)
        nodes, stack = [], [tree]
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack.extend(node["children"])
        example_gen = [n for n in nodes if n["label"] == "CsvExampleGen"]
        assert example_gen and example_gen[0]["details"]["input_base"] == str(small_sample)

        # The secret: nowhere in what the runs wrote, printed or stored.
        log = next((tmp_path / "a" / "logs").glob("run-*.log")).read_text()
        assert "Using connection config" in log and "password: ***" in log, "TFX logs it; we mask it"
        assert PASSWORD not in _all_written_text(tmp_path), "a file under the output folders holds it"
        assert PASSWORD not in output + second.stdout + second.stderr
        assert PASSWORD not in dump_database(url, PASSWORD)


def _wait_for_a_component(output, seconds: float = 300) -> None:
    """Until the run in `output` has started its first component (it then holds every lock)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        logs = list((output / "logs").glob("run-*.log")) if (output / "logs").is_dir() else []
        if logs and "Component CsvExampleGen is running" in logs[0].read_text():
            return
        time.sleep(0.5)
    raise TimeoutError(f"no component started in {output} within {seconds} s")
