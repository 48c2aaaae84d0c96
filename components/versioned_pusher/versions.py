"""What counts as a pushed version, for the pusher and for the TF-free readers.

A version is a numbered folder in the serving directory whose push record has
been written. The record is written last, after every file of the model, so a
folder without one is an incomplete push (a copy cut short on object storage,
where there is no atomic rename) and nobody counts it: not `models`, not the
baseline lookup, not the next version number. The next push removes it.

A pin (`models pin`) is a file in the serving directory, beside the versions:
while it exists the pusher publishes nothing. The CLI writes it; the pusher,
wherever it runs, reads it. Its name and its reading are here, for both.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

PUSH_RECORD = "push_record.json"
# Keys of a push record: the model's content hash, the Model artifact it is a copy of, and the
# pipeline run that trained that model.
FINGERPRINT = "fingerprint"
MODEL_URI = "model_uri"
RUN_ID = "pipeline_run"
PARTIAL_PREFIX = ".partial-"
PIN_FILE = "pin.json"
# A SavedModel's content hash is taken from the first of these it has.
FINGERPRINT_FILES = ("fingerprint.pb", "saved_model.pb")


@dataclass(frozen=True)
class Pin:
    version: str
    user: str
    reason: str
    at: str  # UTC, as the CLI prints it
    action_id: int  # the MLMD execution that recorded it

    def sentence(self) -> str:
        return f"pinned at {self.version} by {self.user}: {self.reason}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Pin:
        values = json.loads(text)
        return cls(**{key: values[key] for key in cls.__dataclass_fields__})


def is_version_name(name: str) -> bool:
    """Object stores list folders with a trailing slash."""
    return name.rstrip("/").isdigit()


def complete_local_versions(serving_dir: Path) -> list[int]:
    """Complete versions of a serving directory on this machine's file system, oldest first."""
    if not serving_dir.is_dir():
        return []
    return sorted(int(name) for name in os.listdir(serving_dir)
                  if is_version_name(name) and (serving_dir / name / PUSH_RECORD).is_file())


def local_push_record(version_dir: Path) -> dict:
    """A version's push record on this machine's file system ({} when it has none or it is unreadable)."""
    try:
        return json.loads((version_dir / PUSH_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def local_pin(serving_dir: Path) -> Pin | None:
    """The pin of a serving directory on this machine's file system, or None."""
    path = serving_dir / PIN_FILE
    return Pin.from_json(path.read_text(encoding="utf-8")) if path.is_file() else None


def content_fingerprint(data: bytes) -> str:
    """The `fingerprint` of a push record, from the bytes of a FINGERPRINT_FILES file."""
    return hashlib.sha256(data).hexdigest()[:32]


def local_model_fingerprint(model_dir: Path) -> str:
    """content_fingerprint of a SavedModel on this machine's file system."""
    for name in FINGERPRINT_FILES:
        if (model_dir / name).is_file():
            return content_fingerprint((model_dir / name).read_bytes())
    raise FileNotFoundError(f"{model_dir} is not a SavedModel: no saved_model.pb")
