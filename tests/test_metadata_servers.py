"""The pipeline records to a shared MLMD on PostgreSQL or MariaDB, and lineage reads it back.

Real servers from Debian's packages, started on loopback by the test (see
db_servers.py); a small real pipeline run on 1,000 taxi rows writes to each.
"""

from __future__ import annotations

import json
import subprocess
from urllib.parse import urlparse

import pytest

from data.prepare import write_sample
from tests.conftest import PROJECT_ROOT, RUN_OVERRIDES, cli
from tests.db_servers import mariadb_server, postgres_server

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


@pytest.mark.parametrize("server", [postgres_server, mariadb_server], ids=["postgresql", "mariadb"])
def test_pipeline_records_to_the_server_and_lineage_reads_it_back(server, small_sample, tmp_path):
    with server() as url:
        run = subprocess.run(
            cli("run", "--data", str(small_sample), "--output", str(tmp_path), *RUN_OVERRIDES,
                "--set", "training.epochs=2", *_metadata_overrides(url)),
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert not (tmp_path / "metadata.sqlite").exists(), "nothing may go to the local SQLite file"

        def lineage(*arguments):
            result = subprocess.run(cli("lineage", *arguments, "--store", url, "--json"),
                                    cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stdout + result.stderr
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
