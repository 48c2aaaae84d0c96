"""Cuts the per-transform overheads of Beam's in-process DirectRunner for a local run.

Each function here replaces one piece of Beam (or dill) that costs time on
every transform or bundle and brings nothing to a run in this one process;
each says what py-spy showed. `tune_in_process_beam` applies them all; only
the local runner calls it, before the pipeline runs, never at import time.
Worker processes (the Evaluator's multi_processing mode) keep Beam as it is,
and the payloads they read are byte for byte the ones Beam would make.
"""

from __future__ import annotations

import bz2
import logging
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_applied = False
# The longest sleep of a bundle's state sampler, in ms (Beam's default: 200).
STATE_SAMPLING_PERIOD_MS = 10
# What the pickle-compression memo holds at most: raw and compressed bytes together.
PICKLE_MEMO_BYTES = 64 * 2**20


def tune_in_process_beam() -> None:
    """Applies every change below, once per process (a second run in it finds them applied)."""
    global _applied
    if _applied:
        return
    _applied = True
    disable_beam_state_cache()
    set_dill_trace_level_once()
    cache_dofn_specs()
    cache_function_arguments()
    cache_option_views()
    shorten_state_sampling_period()
    memoize_pickle_compression()


def disable_beam_state_cache() -> None:
    """Turns off the in-process Beam worker's state cache.

    The cache sizes every entry with objsize, which walks the module globals it
    can reach on each put (py-spy showed it under Transform); on the taxi data
    Transform took 17.1 s with the cache and 14.4 s without. The pipeline reads
    each side input once per bundle, so the cache saved nothing.
    """
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.STATE_CACHE_SIZE_MB = 0


def set_dill_trace_level_once() -> None:
    """Beam sets dill's logger level around every pickle, which clears every logger's cache.

    Each Logger.setLevel empties the level cache of every logger in the
    process, several hundred once TensorFlow and TFX are loaded; Beam calls it
    twice per pickled or unpickled function (py-spy: 4% of the Evaluator's
    time). The level is now set only when it changes; a failed pickle still
    switches the trace on, as Beam intends.
    """
    import dill._dill as dill_internals

    toggle = dill_internals._trace
    logger = logging.getLogger("dill")

    def trace(enabled: bool) -> None:
        if enabled or logger.level != logging.WARN:
            toggle(enabled)

    dill_internals._trace = trace


def cache_dofn_specs() -> None:
    """Beam works out a DoFn's state and timer specs once per DoFn object, not seven times.

    `get_dofn_specs` wraps every method of the DoFn and inspects its signature;
    Beam calls it from ParDo's constructor, three times while translating the
    pipeline, twice while the DirectRunner visits it and twice more per bundle
    processor (py-spy: 7% of a taxi run's main thread). The answer depends on
    the object's methods only, which nothing changes once it is built.
    """
    from apache_beam.transforms import userstate

    get_dofn_specs = userstate.get_dofn_specs
    specs = _ObjectCache()
    userstate.get_dofn_specs = lambda dofn: specs.value(dofn, lambda: get_dofn_specs(dofn))


def cache_function_arguments() -> None:
    """Beam reads a function's parameters once, not each time it wraps a DoFn method.

    `get_function_args_defaults` runs inspect.signature; Beam calls it for
    every method of a DoFn each time it builds the DoFn's signature object (for
    each transform it applies, each translation, each bundle processor):
    38,964 calls for 761 distinct functions on the taxi run. The answer
    depends on the function alone (for a bound method, on the function it
    binds), so it is kept per function object, and each caller gets lists of
    its own. Other callables (builtins, classes, callable objects) are
    inspected every time, as before.
    """
    from apache_beam.transforms import core

    get_args = core.get_function_args_defaults
    of_functions, of_bound_functions = _ObjectCache(), _ObjectCache()

    def cached_args(f):
        if isinstance(f, types.FunctionType):
            args, defaults = of_functions.value(f, lambda: get_args(f))
        elif isinstance(f, types.MethodType) and isinstance(f.__func__, types.FunctionType):
            args, defaults = of_bound_functions.value(f.__func__, lambda: get_args(f))
        else:
            return get_args(f)
        return list(args), list(defaults)

    core.get_function_args_defaults = cached_args


def cache_option_views() -> None:
    """`PipelineOptions.view_as(cls)` builds the view once per options object and class.

    Each call builds an argparse parser for `cls` and parses every flag again;
    Beam calls it for every transform it applies (py-spy: 4% of a taxi run's
    main thread). A view keeps no state of its own: its values live in the
    dictionary it shares with the object it views, so one view serves every call.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    view_as = PipelineOptions.view_as
    views = _ObjectCache()

    def cached_view_as(self, cls):
        per_class = views.value(self, dict)
        if cls not in per_class:
            per_class[cls] = view_as(self, cls)
        return per_class[cls]

    PipelineOptions.view_as = cached_view_as


def shorten_state_sampling_period() -> None:
    """Each bundle's state sampler sleeps at most STATE_SAMPLING_PERIOD_MS between samples.

    The sampler is a thread per bundle that adds up the time spent in each
    step; its sleep grows from 2 to 200 ms, and ending a bundle waits for the
    sleep under way to finish. Measured around StateSampler.stop on the taxi
    run: 150 bundles waited 0.48 s with Beam's 200 ms, 0.18 s with 10 ms.
    The sampler still wakes only to add to its counters, outside the GIL.
    """
    from apache_beam.runners.worker import statesampler

    statesampler.StateSampler.__init__.__defaults__ = (STATE_SAMPLING_PERIOD_MS,)


def memoize_pickle_compression() -> None:
    """Beam compresses each distinct pickle once and decompresses each distinct payload once.

    Beam pickles a transform's function when the transform is built, again
    each time the pipeline is translated, and unpickles it for every bundle;
    each time it bz2-compresses (level 9) or decompresses the bytes. Counted on
    the taxi run: 3,278 compressions of 764 distinct pickles (0.40 s) and 4,136
    decompressions of 723 distinct payloads (0.15 s). bz2 is a pure function of
    its input, so a remembered result is the very payload Beam would make:
    pipeline protos and worker processes see the same bytes. Unpickling still
    runs every time, so every bundle gets objects of its own.
    """
    from apache_beam.internal import cloudpickle_pickler, dill_pickler

    codec = MemoizedBz2(PICKLE_MEMO_BYTES)
    dill_pickler.bz2 = codec
    cloudpickle_pickler.bz2 = codec


class MemoizedBz2:
    """bz2.compress and bz2.decompress, remembering recent answers up to a budget of bytes.

    The budget counts each entry's input and output; the least recently used
    entries go first, and an entry larger than an eighth of it is never kept.
    Safe to call from several threads (Beam's in-process workers may be).
    """

    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self.held_bytes = 0
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def compress(self, data: bytes, compresslevel: int = 9) -> bytes:
        return self._remembered(("compress", compresslevel, bytes(data)),
                                lambda: bz2.compress(data, compresslevel))

    def decompress(self, data: bytes) -> bytes:
        return self._remembered(("decompress", bytes(data)), lambda: bz2.decompress(data))

    def _remembered(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                return value
        value = make()
        size = len(key[-1]) + len(value)
        if size > self.budget_bytes // 8:
            return value
        with self._lock:
            if key not in self._entries:
                self._entries[key] = value
                self.held_bytes += size
            while self.held_bytes > self.budget_bytes:
                old_key, old_value = self._entries.popitem(last=False)
                self.held_bytes -= len(old_key[-1]) + len(old_value)
        return value


class _ObjectCache:
    """Values keyed by object identity, dropped when their object is collected.

    Identity, not equality: Beam's objects may define __eq__ or be unhashable.
    An object that takes no weak reference is never cached.
    """

    def __init__(self):
        self._entries: dict[int, tuple[weakref.ref, Any]] = {}

    def value(self, obj, make: Callable[[], Any]) -> Any:
        """The value kept for obj, or make()'s, kept from now on."""
        key = id(obj)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is obj:
            return entry[1]
        value = make()
        try:
            ref = weakref.ref(obj, lambda _, key=key: self._entries.pop(key, None))
        except TypeError:
            return value
        self._entries[key] = (ref, value)
        return value
