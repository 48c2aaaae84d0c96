"""The DAG. It only wires components: every path and setting arrives as an argument.

CsvExampleGen -> StatisticsGen -> ImportSchemaGen (or SchemaGen) -> ExampleValidator
-> ValidationGate -> Transform -> [Tuner] -> Trainer -> [baseline] -> Evaluator -> Verdict -> VersionedPusher

Locally, Resolver nodes find the baseline model (the served one) and the
previous statistics in MLMD. Open-source Kubeflow cannot run Resolver nodes; there a ProductionBaseline
node copies the served model, and the gate follows a reference file.
"""

from __future__ import annotations

from tfx.components import ExampleValidator, SchemaGen, Trainer, Tuner
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2
from tfx.types import Channel, standard_artifacts

from components.batched_io.components import BatchedIOEvaluator, BatchedIOStatisticsGen, BatchedIOTransform
from components.evaluation import EXTRACTORS_MODULE, build_eval_config
from components.latest_or_nothing import LatestOrNothingStrategy
from components.production_baseline.component import ProductionBaseline
from components.production_baseline.strategy import MODEL_KEY, ServedModelStrategy
from components.span_example_gen.component import SpanResolvingCsvExampleGen
from components.validation_gate.component import ValidationGate
from components.verdict.component import Verdict
from components.versioned_pusher.component import VersionedPusher
from pipeline.pipeline_inputs import PipelineInputs

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
TUNER_FN = "trainer.tuning.tuner_fn"
VERDICT_ID = "Verdict"
EXAMPLE_GEN_ID = "CsvExampleGen"
GATE_ID = "ValidationGate"
# TFX's components of these names; the project's read and write their examples in batches
# (components/batched_io) and keep TFX's names.
STATISTICS_GEN_ID, TRANSFORM_ID, EVALUATOR_ID = "StatisticsGen", "Transform", "Evaluator"


def create_pipeline(inputs: PipelineInputs, metadata_connection_config=None) -> tfx_pipeline.Pipeline:
    """Builds the TFX pipeline from fully decided inputs."""
    # CsvExampleGen whose executor resolves {SPAN} itself where no driver ran (open-source Kubeflow).
    example_gen = SpanResolvingCsvExampleGen(
        input_base=inputs.data_root,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=inputs.data_pattern)]
        ),
        range_config=(
            range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
                start_span_number=inputs.span, end_span_number=inputs.span))
            if inputs.span is not None else None
        ),
    ).with_id(EXAMPLE_GEN_ID)
    if inputs.example_gen_beam_args:
        example_gen.with_beam_pipeline_args(inputs.example_gen_beam_args)
    statistics_gen = BatchedIOStatisticsGen(
        examples=example_gen.outputs["examples"]).with_id(STATISTICS_GEN_ID)
    if inputs.schema_file:
        schema_gen = ImportSchemaGen(schema_file=inputs.schema_file)
    else:
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    previous_statistics = None
    if inputs.compare_with_previous_statistics:
        # The statistics of the last data the gate accepted. The resolver has no
        # upstream node, so it runs before this run's gate; on the first run it
        # finds nothing and the gate skips the drift check.
        previous_statistics = Resolver(
            strategy_class=LatestOrNothingStrategy,
            statistics=Channel(type=standard_artifacts.ExampleStatistics,
                               producer_component_id=GATE_ID, output_key="accepted_statistics"),
        ).with_id("previous_statistics_resolver")
    checks_drift = previous_statistics is not None or inputs.statistics_reference_file is not None
    validation_gate = ValidationGate(
        anomalies=example_validator.outputs["anomalies"],
        fail_on=inputs.fail_on,
        statistics=statistics_gen.outputs["statistics"] if checks_drift else None,
        schema=schema_gen.outputs["schema"] if checks_drift else None,
        previous_statistics=previous_statistics.outputs["statistics"] if previous_statistics else None,
        reference_file=None if previous_statistics else inputs.statistics_reference_file,
    ).with_id(GATE_ID)
    transform = BatchedIOTransform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config=inputs.transform_config,
        # StatisticsGen already describes the raw data; Transform's own pre- and
        # post-transform statistics would be a second full pass.
        disable_statistics=True,
        disable_analyzer_cache=True,
        # TFT traces the preprocessing_fn as one TF1 graph instead of a tf.function
        # per analysis phase: on the taxi CSV Transform took 5.7 s against 9.7 s (one
        # run each), with the same transformed values. The Trainer and the exported
        # model load either kind of graph.
        force_tf_compat_v1=True,
    ).with_id(TRANSFORM_ID)
    # Transform reads nothing from the gate; the edge makes it wait for the gate's verdict.
    transform.add_upstream_node(validation_gate)
    tuner = None
    if inputs.tuner_config is not None:
        tuner = Tuner(
            tuner_fn=TUNER_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            custom_config=inputs.tuner_config,
        )
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        custom_config=inputs.trainer_config,
    )
    components = [
        *([previous_statistics] if previous_statistics else []),
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        validation_gate,
        transform,
        *([tuner] if tuner else []),
        trainer,
    ]
    baseline_model = None
    if inputs.resolve_baseline:
        # The model of the version served now, which a rollback may have made an
        # earlier one: the candidate has to beat what users get.
        baseline_resolver = Resolver(
            strategy_class=ServedModelStrategy,
            config={"serving_dir": inputs.serving_dir},
            **{MODEL_KEY: Channel(type=standard_artifacts.Model)},
        ).with_id("served_model_resolver")
        components.append(baseline_resolver)
        baseline_model = baseline_resolver.outputs[MODEL_KEY]
    elif inputs.baseline_from_serving_dir:
        production_baseline = ProductionBaseline(
            model=trainer.outputs["model"], serving_dir=inputs.serving_dir)
        components.append(production_baseline)
        baseline_model = production_baseline.outputs["baseline_model"]
    evaluator = BatchedIOEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_model,
        eval_config=build_eval_config(inputs.evaluation),
        # custom_extractors() there: one extract per slice and batch (components/slice_groups.py).
        module_path=EXTRACTORS_MODULE,
    ).with_id(EVALUATOR_ID)
    if inputs.evaluator_beam_args:
        evaluator.with_beam_pipeline_args(inputs.evaluator_beam_args)
    verdict = Verdict(
        model=trainer.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        evaluator_blessing=evaluator.outputs["blessing"],
        evaluation_config=inputs.evaluation,
        baseline_model=baseline_model if inputs.baseline_from_serving_dir else None,
    ).with_id(VERDICT_ID)
    pusher = VersionedPusher(
        model=trainer.outputs["model"],
        model_blessing=verdict.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=inputs.serving_dir)
        ),
    ).with_id("Pusher")
    components += [evaluator, verdict, pusher]
    return tfx_pipeline.Pipeline(
        pipeline_name=inputs.pipeline_name,
        pipeline_root=inputs.pipeline_root,
        components=components,
        enable_cache=inputs.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=inputs.beam_pipeline_args,
    )
