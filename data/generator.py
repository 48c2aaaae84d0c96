"""Synthetic taxi data at any size, in the taxi schema, with drift and defect switches.

Rows are resampled from the real taxi CSV (so joint distributions stay
realistic) with multiplicative noise on the numbers. Tips move with the fare, so
the label rate stays that of the real data. Switches inject what production
data does to a pipeline: distribution drift and file defects. Tests and
benchmarks use it; nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.prepare import load_source

NOISY_NUMBERS = ("fare", "trip_miles", "trip_seconds")
COORDINATES = ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude")
DEFECTS = {
    "missing_column": "the company column is left out",
    "bad_number": "a fare holds text instead of a number",
    "new_category": "a payment type never seen before (Bitcoin)",
    "out_of_domain": "trip_start_hour of 25",
    "mostly_empty": "company empty in 95% of rows",
    "extra_field": "a row with one field too many",
    "empty_file": "a file with nothing in it",
    "not_utf8": "bytes that are not UTF-8 in a company name",
}


@dataclass(frozen=True)
class Drift:
    """Distribution shifts to inject. Zero everywhere means none."""

    # Fraction of cash trips turned into credit-card trips (shifts payment_type).
    cash_to_card: float = 0.0
    # Multiplies every fare, trip distance and duration (shifts the numbers).
    fare_scale: float = 1.0


@dataclass(frozen=True)
class GeneratorSpec:
    rows: int
    seed: int = 0
    noise: float = 0.05
    drift: Drift = field(default_factory=Drift)
    defects: tuple[str, ...] = ()

    def __post_init__(self):
        unknown = set(self.defects) - set(DEFECTS)
        if unknown:
            raise ValueError(f"unknown defect(s) {sorted(unknown)}; choose from {sorted(DEFECTS)}")
        if self.rows < 1:
            raise ValueError("rows must be at least 1")


def generate_frame(spec: GeneratorSpec, source: pd.DataFrame) -> pd.DataFrame:
    """`spec.rows` synthetic rows with the source's columns, as text."""
    rng = np.random.default_rng(spec.seed)
    frame = source.sample(n=spec.rows, replace=True, random_state=spec.seed).reset_index(drop=True)
    scale = rng.lognormal(0.0, spec.noise, spec.rows) * spec.drift.fare_scale
    for column in (*NOISY_NUMBERS, "tips"):
        frame[column] = _scaled(frame[column], scale, integer=column == "trip_seconds")
    for column in COORDINATES:
        frame[column] = _jittered(frame[column], rng, 0.002)
    if spec.drift.cash_to_card:
        cash = frame.index[frame["payment_type"] == "Cash"]
        chosen = rng.choice(cash, size=int(len(cash) * spec.drift.cash_to_card), replace=False)
        frame.loc[chosen, "payment_type"] = "Credit Card"
    return frame


def _scaled(column: pd.Series, scale: np.ndarray, integer: bool) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce") * scale
    text = values.round(0).astype("Int64").astype(str) if integer else values.round(2).astype(str)
    return text.where(column != "", "").replace({"<NA>": "", "nan": ""})


def _jittered(column: pd.Series, rng: np.random.Generator, spread: float) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce") + rng.normal(0, spread, len(column))
    return values.round(6).astype(str).where(column != "", "")


def write_csv(frame: pd.DataFrame, path: Path, defects: Iterable[str] = ()) -> Path:
    """Writes the rows, applying file-level defects; atomically (no half files)."""
    defects = set(defects)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame = _apply_value_defects(frame.copy(), defects)
    if "empty_file" in defects:
        partial.write_bytes(b"")
    else:
        frame.to_csv(partial, index=False)
        if "extra_field" in defects:
            with open(partial, "a", encoding="utf-8") as writer:
                writer.write(",".join(frame.iloc[0].tolist() + ["surplus"]) + "\n")
        if "not_utf8" in defects:
            with open(partial, "ab") as writer:
                row = frame.iloc[0].tolist()
                row[list(frame.columns).index("company")] = "Caf\xe9 Cab"
                writer.write(",".join(row).encode("latin-1") + b"\n")
    os.replace(partial, path)
    return path


def _apply_value_defects(frame: pd.DataFrame, defects: set[str]) -> pd.DataFrame:
    if "missing_column" in defects:
        frame = frame.drop(columns=["company"])
    if "bad_number" in defects:
        frame.loc[0, "fare"] = "twelve"
    if "new_category" in defects:
        frame.loc[: max(1, len(frame) // 20), "payment_type"] = "Bitcoin"
    if "out_of_domain" in defects:
        frame.loc[0, "trip_start_hour"] = "25"
    if "mostly_empty" in defects:
        frame.loc[frame.index[: int(len(frame) * 0.95)], "company"] = ""
    return frame


def generate(spec: GeneratorSpec, destination: Path, source: pd.DataFrame | None = None) -> Path:
    """Generates the rows of `spec` into destination/data.csv."""
    frame = generate_frame(spec, source if source is not None else load_source())
    return write_csv(frame, destination / "data.csv", spec.defects)
