"""Work on a few threads, results in order: what the batched reader and writer share."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

# Coder threads per process. More than the cores only adds contention: on 2
# cores, 3 decoding threads made Transform slower than 2 (1.5M rows, by hand).
MAX_THREADS = 4


def coder_threads() -> int:
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def in_order(pool: ThreadPoolExecutor, work: Callable[[Any], Any], items: Iterable[Any],
             ahead: int) -> Iterator[Any]:
    """work(item) for every item, run on the pool with up to `ahead` items in flight, yielded in order."""
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:  # a consumer that stops early leaves nothing running
            future.cancel()


class PerThread:
    """One instance of a stateful object per thread: tfx_bsl's coders keep state between calls."""

    def __init__(self, make: Callable[[], Any]):
        self._make = make
        self._local = threading.local()

    def get(self) -> Any:
        instance = getattr(self._local, "instance", None)
        if instance is None:
            instance = self._local.instance = self._make()
        return instance
