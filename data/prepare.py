"""Materialises the default dataset: the Chicago taxi CSV shipped inside the tfx wheel.

Nothing is downloaded. The file is copied into a git-ignored folder under data/.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

TAXI_CSV_IN_PACKAGE = ("examples", "chicago_taxi_pipeline", "data", "simple", "data.csv")
DEFAULT_DESTINATION = Path("data/taxi")


def packaged_taxi_csv() -> Path:
    """Returns the path of the taxi CSV inside the installed tfx package (without importing tfx)."""
    spec = importlib.util.find_spec("tfx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the tfx package is not installed; run `make setup`")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*TAXI_CSV_IN_PACKAGE)
    if not path.is_file():
        raise FileNotFoundError(f"the installed tfx package has no taxi CSV at {path}")
    return path


def materialise_default_data(destination: Path = DEFAULT_DESTINATION) -> Path:
    """Copies the packaged taxi CSV to destination/data.csv, atomically; returns the file path."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / "data.csv"
    source = packaged_taxi_csv()
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return target
    partial = destination / ".data.csv.partial"
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target


def write_sample(destination: Path, rows: int, source: Path | None = None) -> Path:
    """Writes the header and the first `rows` data rows of the taxi CSV to destination/data.csv."""
    source = source or packaged_taxi_csv()
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / "data.csv"
    with source.open(encoding="utf-8") as reader, target.open("w", encoding="utf-8") as writer:
        for index, line in enumerate(reader):
            if index > rows:
                break
            writer.write(line)
    return target
