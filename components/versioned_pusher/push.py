"""Atomic, versioned pushes into a serving directory.

A reader (TF Serving, a batch job) must never see a half-written model, so the
model is copied to a hidden partial folder and renamed to its version number
only once complete. Earlier versions stay. Pushing the model that is already
the newest version is a no-op, so re-running a cached pipeline does not
duplicate it.

Files go through TFX's fileio, so the serving directory may be local or on
object storage (gs://, s3://). On a local file system the final rename is
atomic. Object stores have no directory rename: TensorFlow copies object by
object, so there a reader polling the folder could see a version appear
file by file; `push_record.json`, written into the partial folder before the
rename, is never the only file of a version.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from tfx.dsl.io import fileio
from tfx.utils import io_utils

PARTIAL_PREFIX = ".partial-"
PUSH_RECORD = "push_record.json"
FINGERPRINT_FILES = ("fingerprint.pb", "saved_model.pb")


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
                return hashlib.sha256(reader.read()).hexdigest()[:32]
    raise FileNotFoundError(f"{model_dir} is not a SavedModel: no saved_model.pb")


def pushed_versions(serving_dir: str) -> list[int]:
    """Complete versions in the serving directory, oldest first."""
    if not fileio.isdir(serving_dir):
        return []
    # Object stores list folders with a trailing slash.
    return sorted(int(name.rstrip("/")) for name in fileio.listdir(serving_dir) if name.rstrip("/").isdigit())


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
      metadata: written as push_record.json beside the model (run id, metrics...).
      copy_tree: the copy function (a parameter so tests can make it fail midway).
      clock: seconds since the epoch; versions are timestamps, strictly increasing.
    """
    fileio.makedirs(serving_dir)
    _remove_stale_partials(serving_dir)
    fingerprint = model_fingerprint(model_dir)
    versions = pushed_versions(serving_dir)
    if versions:
        latest = os.path.join(serving_dir, str(versions[-1]))
        if _recorded_fingerprint(latest) == fingerprint:
            return PushResult(str(versions[-1]), latest, reused=True)
    version = str(max(int(clock()), versions[-1] + 1 if versions else 0))
    partial = os.path.join(serving_dir, f"{PARTIAL_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        copy_tree(model_dir, partial)
        record = {"fingerprint": fingerprint, "source": model_dir, "pushed_at": clock(),
                  **(metadata or {})}
        with fileio.open(os.path.join(partial, PUSH_RECORD), "w") as writer:
            writer.write(json.dumps(record, indent=2))
        final = os.path.join(serving_dir, version)
        fileio.rename(partial, final)  # atomic within one local file system
    except BaseException:
        _remove_quietly(partial)
        raise
    return PushResult(version, final, reused=False)


def read_push_record(version_dir: str) -> dict:
    path = os.path.join(version_dir, PUSH_RECORD)
    if not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as reader:
        return json.loads(reader.read())


def _recorded_fingerprint(version_dir: str) -> str | None:
    return read_push_record(version_dir).get("fingerprint")


def _remove_stale_partials(serving_dir: str) -> None:
    """Leftovers of a push that died mid-copy; never visible as versions."""
    for name in fileio.listdir(serving_dir):
        if name.startswith(PARTIAL_PREFIX):
            _remove_quietly(os.path.join(serving_dir, name.rstrip("/")))


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
