"""Serving an earlier version again (`models rollback`): the switch on disk.

TF Serving, `predict --model latest` and the next run's baseline all serve the
newest complete version of the serving folder. A rollback therefore publishes
the chosen earlier version once more, as a new newest version (publish.py:
the rename of a complete copy is the switch). Earlier versions stay.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.versioned_pusher.properties import ROLLED_BACK_TO
from components.versioned_pusher.versions import complete_local_versions, local_push_record
from configs.settings import ConfigError
from pipeline.serving.publish import fingerprint, next_version, publish_version, trained_by


@dataclass(frozen=True)
class RollbackPlan:
    serving_dir: Path
    from_version: str  # served now
    to_version: str  # whose model is served again
    new_version: str  # the folder it is published as
    run_id: str  # the run that trained the model served again ("" when its push record does not say)

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
    return RollbackPlan(serving_dir, str(current), str(target), next_version(serving_dir, clock),
                        trained_by(serving_dir, target))


def publish(plan: RollbackPlan, details: dict, copy_tree: Callable[..., object] = shutil.copytree) -> Path:
    """Publishes version to_version again as new_version, its record saying so."""
    source = plan.serving_dir / plan.to_version
    record = {**local_push_record(source), **details, ROLLED_BACK_TO: plan.to_version}
    return publish_version(source, plan.serving_dir, plan.new_version, record, copy_tree)
