"""Versioned pushes into a serving directory that never expose half a model.

A version counts once its push record exists (see versions.py), and the
record is written after every file of the model. On a local file system the
model is also copied to a hidden partial folder and renamed to its version
number only once complete, so a reader never even sees the folder early.
Object stores (gs://, s3://) have no directory rename, so there the model is
copied into its version folder directly and the record, written last, is what
makes it a version. Earlier versions stay. Pushing the model that is already
the newest version is a no-op, so re-running a cached pipeline does not
duplicate it. Incomplete versions and partial folders left by a killed push
are removed by the next one.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from tfx.dsl.io import fileio
from tfx.utils import io_utils

from components.versioned_pusher.versions import (
    FINGERPRINT,
    FINGERPRINT_FILES,
    PARTIAL_PREFIX,
    PIN_FILE,
    PUSH_RECORD,
    Pin,
    content_fingerprint,
    is_version_name,
)


@dataclass(frozen=True)
class PushResult:
    version: str
    path: str
    reused: bool


def model_fingerprint(model_dir: str) -> str:
    """Content hash of a SavedModel (its fingerprint.pb, or saved_model.pb without one)."""
    for name in FINGERPRINT_FILES:
        path = os.path.join(model_dir, name)
        if fileio.exists(path) and not fileio.isdir(path):
            with fileio.open(path, "rb") as reader:
                return content_fingerprint(reader.read())
    raise FileNotFoundError(f"{model_dir} is not a SavedModel: no saved_model.pb")


def pushed_versions(serving_dir: str) -> list[int]:
    """Complete versions in the serving directory (their record written), oldest first."""
    if not fileio.isdir(serving_dir):
        return []
    return sorted(int(name.rstrip("/")) for name in fileio.listdir(serving_dir)
                  if is_version_name(name) and fileio.exists(os.path.join(serving_dir, name.rstrip("/"),
                                                                          PUSH_RECORD)))


def is_local(path: str) -> bool:
    return "://" not in path


def push_model(
    model_dir: str,
    serving_dir: str,
    metadata: dict | None = None,
    copy_tree: Callable[[str, str], object] = io_utils.copy_dir,
    clock: Callable[[], float] = time.time,
) -> PushResult:
    """Copies model_dir to serving_dir/<version>/ atomically; returns where it went.

    Args:
      model_dir: the SavedModel to push.
      serving_dir: the folder that holds one sub-folder per version.
      metadata: written into the push record beside the model (run id, metrics...).
      copy_tree: the copy function (a parameter so tests can make it fail midway).
      clock: seconds since the epoch; versions are timestamps, strictly increasing.
    """
    fileio.makedirs(serving_dir)
    _remove_incomplete(serving_dir)
    fingerprint = model_fingerprint(model_dir)
    versions = pushed_versions(serving_dir)
    if versions:
        latest = os.path.join(serving_dir, str(versions[-1]))
        if _recorded_fingerprint(latest) == fingerprint:
            return PushResult(str(versions[-1]), latest, reused=True)
    version = str(max(int(clock()), versions[-1] + 1 if versions else 0))
    final = os.path.join(serving_dir, version)
    # Locally: a hidden folder, renamed (atomically) once complete; remotely, the version folder itself.
    target = os.path.join(serving_dir, f"{PARTIAL_PREFIX}{version}-{uuid.uuid4().hex[:8]}") \
        if is_local(serving_dir) else final
    try:
        copy_tree(model_dir, target)
        record = {FINGERPRINT: fingerprint, "source": model_dir, "pushed_at": clock(),
                  **(metadata or {})}
        with fileio.open(os.path.join(target, PUSH_RECORD), "w") as writer:  # last: marks it complete
            writer.write(json.dumps(record, indent=2))
        if target != final:
            fileio.rename(target, final)
    except BaseException:
        _remove_quietly(target)
        raise
    return PushResult(version, final, reused=False)


def read_push_record(version_dir: str) -> dict:
    path = os.path.join(version_dir, PUSH_RECORD)
    if not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as reader:
        return json.loads(reader.read())


def _recorded_fingerprint(version_dir: str) -> str | None:
    return read_push_record(version_dir).get(FINGERPRINT)


def _remove_incomplete(serving_dir: str) -> None:
    """Leftovers of a push that died mid-copy (partial folders, versions without a record)."""
    complete = set(pushed_versions(serving_dir))
    for name in fileio.listdir(serving_dir):
        name = name.rstrip("/")
        if name.startswith(PARTIAL_PREFIX) or (is_version_name(name) and int(name) not in complete):
            _remove_quietly(os.path.join(serving_dir, name))


def read_pin(serving_dir: str) -> Pin | None:
    """The pin of a serving directory (local or object storage), or None."""
    path = os.path.join(serving_dir, PIN_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as reader:
        return Pin.from_json(reader.read())


def latest_pushed(serving_dir: str) -> tuple[str, dict] | None:
    """The newest complete version folder and its push record, or None when nothing was pushed."""
    versions = pushed_versions(serving_dir)
    if not versions:
        return None
    folder = os.path.join(serving_dir, str(versions[-1]))
    return folder, read_push_record(folder)


def _remove_quietly(path: str) -> None:
    try:
        if fileio.exists(path):
            fileio.rmtree(path)
    except (OSError, fileio.NotFoundError):
        pass
