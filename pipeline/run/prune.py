"""`prune`: older runs' bulky artifacts removed from disk, each removal recorded in ML Metadata.

What may go is pipeline/metadata/pruning's decision; this module does it,
crash-safe, in an order where a kill -9 at any moment leaves nothing the next
prune cannot finish:

1. finish what a killed prune left: artifacts MARKED_FOR_DELETION lose their
   files and become DELETED, its RUNNING record becomes COMPLETE;
2. record the prune (RUNNING) and mark every artifact it removes
   MARKED_FOR_DELETION (one MLMD call);
3. per artifact: rename its folder to a hidden `.N.pruning` beside it (atomic,
   so a reader sees the folder whole or not at all), remove that, mark it
   DELETED;
4. record the prune COMPLETE.

At no time is an artifact LIVE in ML Metadata without its files. The caller
holds the run lock, so no run reads or writes the pipeline root meanwhile.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2 as pb

from components.versioned_pusher.versions import MODEL_URI, complete_local_versions, local_push_record
from pipeline.metadata import pruning, releases
from pipeline.metadata import store as mlmd

TRASH_SUFFIX = ".pruning"


@dataclass
class PruneResult:
    plan: pruning.PrunePlan
    bytes: int  # what the plan's artifacts take on disk (freed, unless a dry run)
    finished: int  # artifacts of a killed prune finished first
    action_id: int | None = None
    by_type: dict[str, int] = field(default_factory=dict)  # bytes by artifact type


def served_model_uris(serving_dir: Path) -> set[str]:
    """The Model artifact the served version is a copy of (the newest complete version's push record)."""
    versions = complete_local_versions(serving_dir)
    if not versions:
        return set()
    uri = local_push_record(serving_dir / str(versions[-1])).get(MODEL_URI)
    return {uri} if uri else set()


def folder_bytes(uri: str) -> int:
    path = Path(uri)
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def prune(store, pipeline_name: str, pipeline_root: Path, serving_dir: Path, keep_last: int,
          keep_pushed: bool, dry_run: bool, who: dict[str, str]) -> PruneResult:
    """Plans, and unless dry_run removes, what no kept run or served model needs. `who`: user, reason."""
    finished = 0 if dry_run else finish_unfinished(store, pipeline_name)
    plan = pruning.plan_prune(store, pipeline_name, keep_last, keep_pushed, served_model_uris(serving_dir),
                              str(pipeline_root.resolve()))
    result = PruneResult(plan, 0, finished)
    types = {t.id: t.name for t in store.get_artifact_types()}
    for artifact in plan.artifacts:
        size = folder_bytes(artifact.uri)
        result.bytes += size
        result.by_type[types[artifact.type_id]] = result.by_type.get(types[artifact.type_id], 0) + size
    if dry_run or not plan.artifacts:
        return result
    action = releases.begin(store, pipeline_name, {
        "action": releases.PRUNE, **who,
        "detail": f"{len(plan.artifacts)} artifacts of {len(plan.pruned_runs)} runs, "
                  f"{megabytes(result.bytes)}; kept {len(plan.kept_runs)} runs"})
    result.action_id = action.id
    pruning.mark(store, plan.artifacts, pb.Artifact.MARKED_FOR_DELETION, action.id)
    for artifact in plan.artifacts:
        remove_files(artifact.uri)
        pruning.mark(store, [artifact], pb.Artifact.DELETED, action.id, int(time.time() * 1000))
    releases.complete(store, action)
    return result


def finish_unfinished(store, pipeline_name: str) -> int:
    """Completes what a killed prune left: its marked artifacts removed and DELETED, its record COMPLETE."""
    marked = pruning.unfinished(store)
    for artifact in marked:
        remove_files(artifact.uri)
        action_id = mlmd.custom_value(artifact, pruning.PRUNED_BY) or 0
        pruning.mark(store, [artifact], pb.Artifact.DELETED, int(action_id), int(time.time() * 1000))
    for record in releases.release_history(store, pipeline_name):
        if record.action == releases.PRUNE and record.state == "RUNNING":
            [execution] = store.get_executions_by_id([record.id])
            releases.complete(store, execution)
    return len(marked)


def remove_files(uri: str) -> None:
    """The artifact's folder (or file) gone: renamed aside first, then removed; a second call finishes."""
    path = Path(uri)
    trash = path.with_name(f".{path.name}{TRASH_SUFFIX}")
    for target in (trash, path):  # a trash folder left by a killed prune first, then the artifact
        if target is path and path.exists():
            os.replace(path, trash)
        if trash.is_dir():
            shutil.rmtree(trash)
        elif trash.exists():
            trash.unlink()


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
