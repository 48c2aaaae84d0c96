"""Publishing a folder as the serving folder's newest version, from outside a run.

A rollback and a manual bless both add a version this way: the model is copied
into a hidden partial folder, its push record written and synced last, and the
folder renamed to its version number. The rename is the switch: a reader sees
the version served before or the new one, never half of either, and a copy cut
short by a kill is a partial folder that no reader counts (the next push,
rollback or bless removes it). Local serving folders only: object stores have
no atomic rename.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from components.versioned_pusher.versions import (
    FINGERPRINT,
    PARTIAL_PREFIX,
    PUSH_RECORD,
    RUN_ID,
    complete_local_versions,
    local_push_record,
)


def next_version(serving_dir: Path, clock: Callable[[], float] = time.time) -> str:
    """Versions are timestamps, strictly increasing, as the Pusher numbers them."""
    versions = complete_local_versions(serving_dir)
    return str(max(int(clock()), versions[-1] + 1 if versions else 0))


def publish_version(source: Path, serving_dir: Path, version: str, record: dict,
                    copy_tree: Callable[..., object] = shutil.copytree) -> Path:
    """Copies source to serving_dir/version with `record` as its push record; returns the version folder.

    `copy_tree` is shutil.copytree's signature (a parameter so that a test can
    slow the copy down and kill the process in the middle of it).
    """
    serving_dir.mkdir(parents=True, exist_ok=True)
    remove_partial_folders(serving_dir)
    partial = serving_dir / f"{PARTIAL_PREFIX}{version}-{uuid.uuid4().hex[:8]}"
    final = serving_dir / version
    try:
        copy_tree(source, partial, ignore=shutil.ignore_patterns(PUSH_RECORD))
        with open(partial / PUSH_RECORD, "w", encoding="utf-8") as writer:  # last: marks it complete
            writer.write(json.dumps({**record, "pushed_at": time.time()}, indent=2))
            writer.flush()
            os.fsync(writer.fileno())
        os.rename(partial, final)  # the switch
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def fingerprint(serving_dir: Path, version: int | str) -> str | None:
    """The model fingerprint a version's push record holds (what tells two models apart)."""
    return local_push_record(serving_dir / str(version)).get(FINGERPRINT)


def trained_by(serving_dir: Path, version: int | str) -> str:
    """The run whose model a version holds ("" when its push record does not say)."""
    return str(local_push_record(serving_dir / str(version)).get(RUN_ID) or "")


def remove_partial_folders(serving_dir: Path) -> None:
    """What a killed push, rollback or bless left: hidden partial folders, never counted as versions."""
    for entry in serving_dir.iterdir():
        if entry.name.startswith(PARTIAL_PREFIX):
            shutil.rmtree(entry, ignore_errors=True)
