"""A store that cannot be reached: one line with the database's own reason, and no C++ log on the terminal."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT, cli

pytestmark = pytest.mark.unit


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_postgresql_store_says_why_in_one_line_without_glog_noise():
    port = closed_port()
    result = subprocess.run(cli("lineage", "runs", "--store", f"postgresql://someone@127.0.0.1:{port}/mlmd"),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    assert "could not connect to server" in lines[0] and str(port) in lines[0], lines[0]
    assert "postgresql_metadata_source" not in result.stderr and "InitGoogleLogging" not in result.stderr, \
        result.stderr
