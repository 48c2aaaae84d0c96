"""Serving an earlier version again (`models rollback`): the switch on disk.

TF Serving, `predict --model latest` and the next run's baseline all serve the
newest complete version of the serving folder. A rollback therefore publishes
the chosen earlier version once more, as a new newest version: copied into a
hidden partial folder, its push record written last, then renamed into place.
The rename is the switch: a reader sees the old newest version or the new one,
never half of either, and a copy cut short by a kill is a partial folder that
no reader counts (the next push or rollback removes it). Earlier versions stay.

Local serving folders only: object stores have no atomic rename.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.versioned_pusher.properties import ROLLED_BACK_TO
from components.versioned_pusher.versions import PARTIAL_PREFIX, PUSH_RECORD, complete_local_versions
from configs.settings import ConfigError


@dataclass(frozen=True)
class RollbackPlan:
    serving_dir: Path
    from_version: str  # served now
    to_version: str  # whose model is served again
    new_version: str  # the folder it is published as

    @property
    def new_path(self) -> Path:
        return self.serving_dir / self.new_version


def plan_rollback(serving_dir: Path, to: str | None, clock: Callable[[], float] = time.time) -> RollbackPlan:
    """Which version to serve again: --to, else the newest one holding another model than the served one."""
    versions = complete_local_versions(serving_dir)
    if not versions:
        raise ConfigError(f"nothing to roll back: {serving_dir} holds no complete version")
    current = versions[-1]
    served = fingerprint(serving_dir, current)
    if to is None:
        earlier = [v for v in reversed(versions[:-1]) if fingerprint(serving_dir, v) != served]
        if not earlier:
            raise ConfigError(f"nothing to roll back to: every version in {serving_dir} holds the model "
                              f"served now ({current})")
        target = earlier[0]
    else:
        if not to.isdigit() or int(to) not in versions:
            known = ", ".join(str(v) for v in versions[-10:])
            raise ConfigError(f"--to {to}: no such version in {serving_dir}; its complete versions: {known}")
        target = int(to)
        if fingerprint(serving_dir, target) == served:
            raise ConfigError(f"--to {to}: it holds the model served now (version {current}); "
                              "nothing to change")
    new_version = max(int(clock()), current + 1)
    return RollbackPlan(serving_dir, str(current), str(target), str(new_version))


def fingerprint(serving_dir: Path, version: int) -> str | None:
    return read_record(serving_dir / str(version)).get("fingerprint")


def read_record(version_dir: Path) -> dict:
    try:
        return json.loads((version_dir / PUSH_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def publish(plan: RollbackPlan, details: dict, copy_tree: Callable[..., object] = shutil.copytree) -> Path:
    """Copies version to_version into a partial folder, writes its record last, renames it into place.

    `copy_tree` is shutil.copytree's signature (a parameter so that a test can
    slow the copy down and kill the process in the middle of it).
    """
    remove_partial_folders(plan.serving_dir)
    partial = plan.serving_dir / f"{PARTIAL_PREFIX}{plan.new_version}-{uuid.uuid4().hex[:8]}"
    source = plan.serving_dir / plan.to_version
    try:
        copy_tree(source, partial, ignore=shutil.ignore_patterns(PUSH_RECORD))
        record = {**read_record(source), **details, ROLLED_BACK_TO: plan.to_version,
                  "pushed_at": time.time()}
        with open(partial / PUSH_RECORD, "w", encoding="utf-8") as writer:  # last: marks it complete
            writer.write(json.dumps(record, indent=2))
            writer.flush()
            os.fsync(writer.fileno())
        os.rename(partial, plan.new_path)  # the switch
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return plan.new_path


def remove_partial_folders(serving_dir: Path) -> None:
    """What a killed push or rollback left: hidden partial folders, never counted as versions."""
    for entry in serving_dir.iterdir():
        if entry.name.startswith(PARTIAL_PREFIX):
            shutil.rmtree(entry, ignore_errors=True)
