"""Atomic, versioned pushes into a serving directory.

A reader (TF Serving, a batch job) must never see a half-written model, so the
model is copied to a hidden partial folder and renamed to its version number
only once complete. Earlier versions stay. Pushing the model that is already
the newest version is a no-op, so re-running a cached pipeline does not
duplicate it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

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
        if os.path.isfile(path):
            with open(path, "rb") as reader:
                return hashlib.sha256(reader.read()).hexdigest()[:32]
    raise FileNotFoundError(f"{model_dir} is not a SavedModel: no saved_model.pb")


def pushed_versions(serving_dir: str) -> list[int]:
    """Complete versions in the serving directory, oldest first."""
    if not os.path.isdir(serving_dir):
        return []
    return sorted(int(name) for name in os.listdir(serving_dir) if name.isdigit())


def push_model(
    model_dir: str,
    serving_dir: str,
    metadata: dict | None = None,
    copy_tree: Callable[[str, str], object] = shutil.copytree,
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
    os.makedirs(serving_dir, exist_ok=True)
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
        with open(os.path.join(partial, PUSH_RECORD), "w", encoding="utf-8") as writer:
            json.dump(record, writer, indent=2)
        final = os.path.join(serving_dir, version)
        os.rename(partial, final)  # atomic within one filesystem
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return PushResult(version, final, reused=False)


def read_push_record(version_dir: str) -> dict:
    path = os.path.join(version_dir, PUSH_RECORD)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as reader:
        return json.load(reader)


def _recorded_fingerprint(version_dir: str) -> str | None:
    return read_push_record(version_dir).get("fingerprint")


def _remove_stale_partials(serving_dir: str) -> None:
    """Leftovers of a push that died mid-copy; never visible as versions."""
    for name in os.listdir(serving_dir):
        if name.startswith(PARTIAL_PREFIX):
            shutil.rmtree(os.path.join(serving_dir, name), ignore_errors=True)
