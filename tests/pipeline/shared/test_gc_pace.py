"""A run's garbage-collector pace: no full collection for what imports leave, cycles still freed."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipeline.shared.gc_pace import RUN_THRESHOLDS, collect_garbage_less_often

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def full_collections_while_keeping(objects: int) -> int:
    """Full collections while `objects` new containers stay alive (as an import's modules do)."""
    counted = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            counted.append(1)

    kept = []
    gc.collect()
    gc.callbacks.append(count)
    try:
        for _ in range(objects):
            kept.append([])
    finally:
        gc.callbacks.remove(count)
    return len(counted)


def test_a_million_long_lived_objects_start_no_full_collection_at_the_run_pace(restored_thresholds):
    gc.set_threshold(700, 10, 10)  # CPython's default
    assert full_collections_while_keeping(1_000_000) >= 1

    collect_garbage_less_often()
    assert gc.get_threshold() == RUN_THRESHOLDS
    assert full_collections_while_keeping(1_000_000) == 0


def test_reference_cycles_are_still_freed_at_the_run_pace(restored_thresholds):
    class Node:
        pass

    collect_garbage_less_often()
    gc.collect()
    cycle = Node()
    cycle.self = cycle
    alive = weakref.ref(cycle)
    del cycle
    assert alive() is not None  # only the collector can free a cycle
    churn = [[] for _ in range(RUN_THRESHOLDS[0] + 1_000)]
    assert alive() is None
    del churn
