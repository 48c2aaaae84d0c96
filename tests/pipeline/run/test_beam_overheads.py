"""The in-process Beam changes of a local run keep Beam's answers: state, options, step times, payloads."""

from __future__ import annotations

import base64
import bz2
import gc
import time
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
import dill
import pytest
from apache_beam.internal import dill_pickler, pickler
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.worker import statesampler
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec
from apache_beam.utils.counters import CounterFactory

from pipeline.run.beam_overheads import (
    STATE_SAMPLING_PERIOD_MS,
    MemoizedBz2,
    _ObjectCache,
    tune_in_process_beam,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module", autouse=True)
def tuned():
    tune_in_process_beam()


class CountPerKey(beam.DoFn):
    """Stateful: emits each key's running count."""

    SEEN = BagStateSpec("seen", beam.coders.VarIntCoder())

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
        key, value = element
        seen.add(value)
        yield key, len(list(seen.read()))


class TwoStatesOneName(beam.DoFn):
    FIRST = BagStateSpec("same", beam.coders.VarIntCoder())
    SECOND = BagStateSpec("same", beam.coders.VarIntCoder())

    def process(self, element, first=beam.DoFn.StateParam(FIRST), second=beam.DoFn.StateParam(SECOND)):
        yield element


class TimerWithoutCallback(beam.DoFn):
    LATER = TimerSpec("later", TimeDomain.WATERMARK)

    def process(self, element, later=beam.DoFn.TimerParam(LATER)):
        yield element


class Plain(beam.DoFn):
    def process(self, element):
        yield element


def test_stateful_and_plain_dofns_are_told_apart_on_every_call():
    stateful, plain = CountPerKey(), Plain()
    for _ in range(3):
        assert userstate.is_stateful_dofn(stateful)
        assert not userstate.is_stateful_dofn(plain)


def test_invalid_state_and_timer_specs_are_still_refused():
    for _ in range(2):
        with pytest.raises(ValueError, match="duplicate process method parameters"):
            beam.ParDo(TwoStatesOneName())
        with pytest.raises(ValueError, match="TimerSpec without an associated on_timer callback"):
            beam.ParDo(TimerWithoutCallback())


def test_a_stateful_pipeline_runs_in_process_with_the_right_state():
    options = PipelineOptions(["--direct_running_mode=in_memory"])
    with beam.Pipeline(options=options) as pipeline:
        counts = (pipeline | beam.Create([("a", 1), ("a", 2), ("b", 3), ("a", 4)])
                  | beam.ParDo(CountPerKey()))
        last = counts | beam.CombinePerKey(max)
        assert_that(last, equal_to([("a", 3), ("b", 1)]))


def test_views_of_one_options_object_share_values_and_objects_stay_apart():
    two = PipelineOptions(["--direct_num_workers=2"])
    three = PipelineOptions(["--direct_num_workers=3"])
    assert two.view_as(DirectOptions).direct_num_workers == 2
    assert three.view_as(DirectOptions).direct_num_workers == 3
    two.view_as(StandardOptions).runner = "DirectRunner"
    assert two.view_as(StandardOptions).runner == "DirectRunner"
    assert two.get_all_options()["runner"] == "DirectRunner"
    assert three.view_as(StandardOptions).runner is None


def test_a_collected_object_leaves_the_cache():
    cache = _ObjectCache()
    holder = Plain()
    cache.value(holder, lambda: "specs")
    assert cache.value(holder, lambda: "computed again") == "specs"
    del holder
    gc.collect()
    assert cache._entries == {}


def test_tuning_twice_changes_nothing_more():
    view_as, specs = PipelineOptions.view_as, userstate.get_dofn_specs
    tune_in_process_beam()
    assert (PipelineOptions.view_as, userstate.get_dofn_specs) == (view_as, specs)


def test_bundle_samplers_sleep_at_most_the_short_period_and_still_count_step_time():
    sampler = statesampler.StateSampler("stage", CounterFactory())
    assert sampler.sampling_period_ms == STATE_SAMPLING_PERIOD_MS
    step = sampler.scoped_state("step", "process")
    sampler.start()
    with step:
        time.sleep(0.1)
    sampler.stop()
    assert step.sampled_msecs_int() > 0


def scale(factor):
    return lambda value: value * factor


def test_pickled_functions_are_the_payloads_beam_makes_and_a_worker_reads():
    assert isinstance(dill_pickler.bz2, MemoizedBz2)
    payload = pickler.dumps(scale(3))
    assert pickler.dumps(scale(3)) == payload
    # What an untuned worker process does with a payload: plain bz2, then dill.
    raw = bz2.decompress(base64.b64decode(payload))
    assert dill.loads(raw)(5) == 15
    assert base64.b64decode(payload) == bz2.compress(raw, compresslevel=9)
    assert pickler.loads(payload)(7) == 21


def test_the_memo_answers_as_bz2_does_and_keeps_its_answers():
    codec = MemoizedBz2(budget_bytes=1 << 20)
    data = b"a pickled DoFn " * 40
    compressed = codec.compress(data, compresslevel=9)
    assert compressed == bz2.compress(data, 9)
    assert codec.compress(data, compresslevel=9) is compressed
    assert codec.compress(data, 1) == bz2.compress(data, 1)
    assert codec.decompress(compressed) == data
    assert codec.decompress(compressed) is codec.decompress(compressed)
    with pytest.raises(OSError):
        codec.decompress(b"not bz2 at all")


def test_the_memo_stays_within_its_budget_and_keeps_no_large_entry():
    codec = MemoizedBz2(budget_bytes=4096)
    for number in range(200):
        codec.compress(f"payload {number} ".encode() * 8)
        assert codec.held_bytes <= 4096
    large = bytes(range(256)) * 4  # 1 KiB in: over an eighth of the budget
    assert codec.compress(large) is not codec.compress(large)
    recent = b"payload 199 " * 8
    assert codec.compress(recent) is codec.compress(recent)


def test_the_memo_gives_each_thread_the_right_answer():
    codec = MemoizedBz2(budget_bytes=64 * 1024)
    inputs = [f"stage {number % 37} ".encode() * (1 + number % 5) for number in range(400)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda data: codec.decompress(codec.compress(data)), inputs))
    assert results == inputs


def keyword_rich(element, factor=2, *rest, label="x", **options):
    return element * factor


class Scaler:
    def process(self, element, factor=3, offset=0):
        return element * factor + offset

    def __call__(self, element, extra=1):
        return element + extra


def test_function_arguments_are_beams_answers_and_each_caller_owns_its_lists():
    for _ in range(2):
        assert core.get_function_args_defaults(keyword_rich) == (["element", "factor"], [2])
        assert core.get_function_args_defaults(Scaler().process) == (["element", "factor", "offset"], [3, 0])
        assert core.get_function_args_defaults(Scaler()) == (["element", "extra"], [1])
    args, defaults = core.get_function_args_defaults(keyword_rich)
    args.append("changed by a caller")
    defaults.clear()
    assert core.get_function_args_defaults(keyword_rich) == (["element", "factor"], [2])


def test_a_function_defined_again_is_read_again():
    def step(element, factor=2):
        return element * factor

    assert core.get_function_args_defaults(step) == (["element", "factor"], [2])

    def step(element, scale, shift=1):  # noqa: F811 - a new function object under the same name
        return element * scale + shift

    assert core.get_function_args_defaults(step) == (["element", "scale", "shift"], [1])


class AddSide(beam.DoFn):
    def process(self, element, side, bonus=10):
        yield element + side + bonus


def test_dofns_with_side_inputs_and_defaults_run_with_their_arguments():
    options = PipelineOptions(["--direct_running_mode=in_memory"])
    with beam.Pipeline(options=options) as pipeline:
        side = pipeline | "side" >> beam.Create([100])
        main = pipeline | "main" >> beam.Create([1, 2])
        added = main | beam.ParDo(AddSide(), side=beam.pvalue.AsSingleton(side))
        mapped = main | "map" >> beam.Map(keyword_rich, 5)
        assert_that(added, equal_to([111, 112]), label="check added")
        assert_that(mapped, equal_to([5, 10]), label="check mapped")
