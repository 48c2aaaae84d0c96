"""Materialises the default dataset: the Chicago taxi CSV shipped inside the tfx wheel.

Nothing is downloaded. The rows are written, as quarterly spans, into a
git-ignored folder under data/.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

TAXI_CSV_IN_PACKAGE = ("examples", "chicago_taxi_pipeline", "data", "simple", "data.csv")
DEFAULT_DESTINATION = Path("data/taxi")
# Written last: names the source the spans came from, so reruns skip the work.
SOURCE_MARKER = "SOURCE"


def packaged_taxi_csv() -> Path:
    """Returns the path of the taxi CSV inside the installed tfx package (without importing tfx)."""
    spec = importlib.util.find_spec("tfx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the tfx package is not installed; run `make setup`")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*TAXI_CSV_IN_PACKAGE)
    if not path.is_file():
        raise FileNotFoundError(f"the installed tfx package has no taxi CSV at {path}")
    return path


def load_source(path: Path | None = None):
    """The real taxi rows as a pandas DataFrame, every column as text so empty values stay empty."""
    import pandas as pd

    return pd.read_csv(path or packaged_taxi_csv(), dtype=str, keep_default_na=False)


def materialise_default_data(destination: Path = DEFAULT_DESTINATION) -> list[tuple[int, str, int]]:
    """Writes the packaged taxi CSV as quarterly spans under destination; returns (span, quarter, rows).

    Does nothing when the spans of this very source file are already there.
    """
    from data.spans import split_into_spans

    source = packaged_taxi_csv()
    marker = destination / SOURCE_MARKER
    fingerprint = f"{source} {source.stat().st_size}"
    if marker.is_file() and marker.read_text(encoding="utf-8").splitlines()[0] == fingerprint:
        return [tuple(line.split(" ")) for line in marker.read_text(encoding="utf-8").splitlines()[1:]]
    for stale in destination.glob("*.csv"):  # the single-file layout of earlier versions
        stale.unlink()
    spans = split_into_spans(load_source(source), destination)
    lines = [fingerprint, *(f"{number} {quarter} {rows}" for number, quarter, rows in spans)]
    marker.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return spans


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
