"""A measured process gets the environment the benchmark started with, not what libraries set since."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

# In a fresh interpreter: import the benchmark, then tensorflow_transform (as the
# template's result reader does), then measure a process that reports its variable.
BENCH_AFTER_TFT = """
import json, os, sys
from pathlib import Path
import benchmarks.measure as measure
import tensorflow_transform  # sets TF_USE_LEGACY_KERAS=1 in this process
log = Path(sys.argv[1])
measure.timed_process([sys.executable, "-c", "import os; print(os.environ.get('TF_USE_LEGACY_KERAS'))"],
                      Path.cwd(), log)
print(json.dumps({"here": os.environ.get("TF_USE_LEGACY_KERAS"), "measured": log.read_text().strip()}))
"""


def test_a_measured_process_does_not_inherit_tensorflow_transforms_keras_switch(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", BENCH_AFTER_TFT, str(tmp_path / "child.log")],
                            cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["here"] == "1"  # what the template's Trainer would have run under
    assert seen["measured"] == "None"
