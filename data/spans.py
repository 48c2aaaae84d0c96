"""Time-ordered spans: the taxi CSV split by calendar quarter of trip_start_timestamp.

Folders are named span-1, span-2, ... in time order, the layout CsvExampleGen's
``{SPAN}`` pattern reads: the latest span, or every span at once.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

SPAN_PREFIX = "span-"
TIMESTAMP = "trip_start_timestamp"


def quarter_of(timestamp: int) -> str:
    moment = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    return f"{moment.year}Q{(moment.month - 1) // 3 + 1}"


def split_into_spans(frame, destination: Path) -> list[tuple[int, str, int]]:
    """Writes one span folder per quarter, oldest first; returns (span, quarter, rows) rows.

    Args:
      frame: a pandas DataFrame of taxi rows, every column as text.
      destination: the folder to hold span-1/, span-2/, ...
    """
    quarters = frame[TIMESTAMP].astype(int).map(quarter_of)
    written = []
    for number, quarter in enumerate(sorted(quarters.unique()), start=1):
        rows = frame[quarters == quarter]
        folder = destination / f"{SPAN_PREFIX}{number}"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / ".data.csv.partial"
        rows.to_csv(partial, index=False)
        os.replace(partial, folder / "data.csv")
        written.append((number, quarter, len(rows)))
    return written


def span_folders(root: Path) -> list[Path]:
    """The span-N folders under root, in span order."""
    folders = [p for p in root.glob(f"{SPAN_PREFIX}*") if p.is_dir() and p.name[len(SPAN_PREFIX):].isdigit()]
    return sorted(folders, key=lambda p: int(p.name[len(SPAN_PREFIX):]))
