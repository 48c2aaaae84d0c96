"""What counts as a pushed version, for the pusher and for the TF-free readers.

A version is a numbered folder in the serving directory whose push record has
been written. The record is written last, after every file of the model, so a
folder without one is an incomplete push (a copy cut short on object storage,
where there is no atomic rename) and nobody counts it: not `models`, not the
baseline lookup, not the next version number. The next push removes it.
"""

from __future__ import annotations

import os
from pathlib import Path

PUSH_RECORD = "push_record.json"
PARTIAL_PREFIX = ".partial-"


def is_version_name(name: str) -> bool:
    """Object stores list folders with a trailing slash."""
    return name.rstrip("/").isdigit()


def complete_local_versions(serving_dir: Path) -> list[int]:
    """Complete versions of a serving directory on this machine's file system, oldest first."""
    if not serving_dir.is_dir():
        return []
    return sorted(int(name) for name in os.listdir(serving_dir)
                  if is_version_name(name) and (serving_dir / name / PUSH_RECORD).is_file())
