"""Holding the served version (`models pin`, `models unpin`): the pin file on disk.

While the serving folder holds a pin file, the Pusher publishes nothing: runs
still train, evaluate and record their verdict, and their PushedModel says
why nothing went out (components/versioned_pusher). The file is written to a
temporary name, synced and renamed into place, so the Pusher reads a whole pin
or none. Local serving folders only, as for a rollback.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from components.versioned_pusher.versions import PIN_FILE, Pin, complete_local_versions, local_pin
from configs.settings import ConfigError
from pipeline.serving.publish import fingerprint


def read_pin(serving_dir: Path) -> Pin | None:
    try:
        return local_pin(serving_dir)
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{serving_dir / PIN_FILE}: not a pin written by `models pin` ({error}); "
                          "remove the file") from error


def check_pinnable(serving_dir: Path, version: str) -> str:
    """The served version, when `version` holds its model; else why not, as a ConfigError."""
    versions = complete_local_versions(serving_dir)
    if not versions:
        raise ConfigError(f"nothing to pin: {serving_dir} holds no complete version")
    if not version.isdigit() or int(version) not in versions:
        known = ", ".join(str(v) for v in versions[-10:])
        raise ConfigError(f"{version}: no such version in {serving_dir}; its complete versions: {known}")
    served = str(versions[-1])
    if fingerprint(serving_dir, int(version)) != fingerprint(serving_dir, versions[-1]):
        raise ConfigError(f"{version}: not the model served now (version {served}); to serve it and hold "
                          f"it, run `models rollback --to {version}` first, then pin")
    return served


def write_pin(serving_dir: Path, pin: Pin) -> None:
    partial = serving_dir / f".{PIN_FILE}.{uuid.uuid4().hex[:8]}"
    try:
        with open(partial, "w", encoding="utf-8") as writer:
            writer.write(pin.to_json())
            writer.flush()
            os.fsync(writer.fileno())
        os.rename(partial, serving_dir / PIN_FILE)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def remove_pin(serving_dir: Path) -> None:
    (serving_dir / PIN_FILE).unlink()
