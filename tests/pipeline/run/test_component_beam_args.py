"""Per-component Beam arguments: ExampleGen's threads always, the Evaluator's processes on large inputs."""

from __future__ import annotations

import pytest

from configs.settings import DEFAULT_CONFIG, load_config
from pipeline.run.inputs import RunInputs, local_pipeline_inputs

pytestmark = pytest.mark.unit


def bundled_config(tmp_path, *overrides: str):
    return load_config(DEFAULT_CONFIG, [f"paths.output={tmp_path}", *overrides], check_paths=False)


@pytest.mark.parametrize(("rows_past_threshold", "processes"), [(None, False), (-1, False), (0, True),
                                                                (1_000_000, True)])
def test_the_evaluator_gets_its_processes_from_the_configured_row_count(tmp_path, rows_past_threshold,
                                                                        processes):
    config = bundled_config(tmp_path)
    threshold = config.component_beam_args.evaluator_from_rows
    assert threshold > 0
    rows = None if rows_past_threshold is None else threshold + rows_past_threshold
    args = config.component_beam_args.evaluator_args(rows)
    assert ("--direct_running_mode=multi_processing" in args) is processes


def test_no_threshold_means_always(tmp_path):
    config = bundled_config(tmp_path, "component_beam_args.evaluator_from_rows=null")
    assert config.component_beam_args.evaluator_args(None) == list(config.component_beam_args.evaluator)
    assert config.component_beam_args.evaluator_args(10) == list(config.component_beam_args.evaluator)


def test_the_pipeline_gives_each_component_its_own_arguments_after_the_shared_ones(tmp_path):
    from pipeline.pipeline import EXAMPLE_GEN_ID, create_pipeline

    config = bundled_config(tmp_path, f"paths.data={tmp_path}", "paths.schema_file=null")
    inputs = RunInputs.of(config)
    large = create_pipeline(local_pipeline_inputs(
        config, inputs, rows=config.component_beam_args.evaluator_from_rows + 1))
    small = create_pipeline(local_pipeline_inputs(config, inputs, rows=2_000))
    shared = list(config.beam_args)

    def beam_args(pipeline, component_id):
        [component] = [c for c in pipeline.components if c.id == component_id]
        return list(component.executor_spec.beam_pipeline_args)

    assert beam_args(large, "Evaluator") == shared + list(config.component_beam_args.evaluator)
    assert beam_args(small, "Evaluator") == shared
    for pipeline in (large, small):
        assert beam_args(pipeline, EXAMPLE_GEN_ID) == shared + list(config.component_beam_args.example_gen)
        assert beam_args(pipeline, "Transform") == shared
