"""Four small stock TFX pipelines, run with TFX's LocalDagRunner into one ML Metadata store.

Each is what a plain TFX user writes: CsvExampleGen → StatisticsGen →
SchemaGen → ExampleValidator → Trainer (model_module.py) → Evaluator
(TFMA thresholds, by payment type) → Pusher, with no component of this
project. They differ in one thing each:

- ``stock-blessed``: loose thresholds, and the last blessed model as the
  baseline through TFX's own Resolver; run twice (the second time with more
  training steps, so against the first run's model), blessed and pushed both times;
- ``stock-not-blessed``: an overall AUC bound no model reaches; not pushed;
- ``stock-no-evaluator``: ends at the Trainer, with no Evaluator and no Pusher;
- ``stock-trainer-fails``: the user module raises in the Trainer.

Run as ``python -m tests.stock_tfx.pipelines ROOT`` (a fresh process, so the
test process never imports TensorFlow for it); it writes ROOT/metadata.sqlite
and prints one JSON line per pipeline. ``--compile SPEC`` instead compiles
``stock-kfp`` (the blessed one without the Resolver, which open-source KFP
cannot run) with TFX's KubeflowV2DagRunner, for `run-spec --store` to record
as KFP's launcher does.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

BLESSED, NOT_BLESSED = "stock-blessed", "stock-not-blessed"
NO_EVALUATOR, TRAINER_FAILS = "stock-no-evaluator", "stock-trainer-fails"
PIPELINES = (BLESSED, NOT_BLESSED, NO_EVALUATOR, TRAINER_FAILS)
KFP = "stock-kfp"
SECOND_RUN_STEPS = 30  # the blessed pipeline's second run trains longer
STORE_FILE = "metadata.sqlite"
ROWS = 1200
COLUMNS = ("trip_miles", "fare", "trip_start_hour", "payment_type")
# TFMA's thresholds: the blessed pipeline's pass, the not-blessed one's overall AUC bound cannot.
ACCURACY_BOUND, BLESSED_AUC_BOUND, IMPOSSIBLE_AUC_BOUND = 0.3, 0.55, 0.9999
MODULE_FILE = Path(__file__).with_name("model_module.py")


def write_data(folder: Path) -> Path:
    """A CSV of ROWS complete rows of the packaged taxi CSV, with a 0/1 `tipped` label."""
    from data.prepare import packaged_taxi_csv

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trips.csv"
    with packaged_taxi_csv().open(encoding="utf-8") as reader, path.open("w", newline="") as writer:
        out = csv.writer(writer)
        out.writerow([*COLUMNS, "tipped"])
        written = 0
        for row in csv.DictReader(reader):
            if written == ROWS:
                break
            if all(row[name] for name in (*COLUMNS, "tips")):
                out.writerow([*(row[name] for name in COLUMNS), int(float(row["tips"]) > 0)])
                written += 1
    return path


def eval_config(auc_bound: float):
    import tensorflow_model_analysis as tfma

    lower = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": auc_bound}))
    accuracy = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": ACCURACY_BOUND}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="tipped",
                                    prediction_key="probability")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["payment_type"])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="AUC", per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=lower)]),
            # A bare threshold applies to every slice.
            tfma.MetricConfig(class_name="BinaryAccuracy", threshold=accuracy),
        ])])


def build(name: str, root: Path, data: Path, train_steps: int = 20):
    from tfx import v1 as tfx

    example_gen = tfx.components.CsvExampleGen(input_base=str(data.parent))
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
    validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                                schema=schema.outputs["schema"])
    trainer = tfx.components.Trainer(
        module_file=str(MODULE_FILE), examples=example_gen.outputs["examples"],
        schema=schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=train_steps), eval_args=tfx.proto.EvalArgs(num_steps=4),
        custom_config={"fail": name == TRAINER_FAILS})
    components = [example_gen, statistics, schema, validator, trainer]
    if name in (BLESSED, NOT_BLESSED, KFP):
        components += _evaluate_and_push(tfx, name, root, example_gen, trainer)
    return tfx.dsl.Pipeline(
        pipeline_name=name, pipeline_root=str(root / "pipeline_root" / name), components=components,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / STORE_FILE)),
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        enable_cache=False)


def _evaluate_and_push(tfx, name, root, example_gen, trainer) -> list:
    evaluator_inputs = {}
    extra = []
    if name == BLESSED:
        baseline = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
            model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        ).with_id("latest_blessed_model_resolver")
        evaluator_inputs["baseline_model"] = baseline.outputs["model"]
        extra.append(baseline)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        eval_config=eval_config(IMPOSSIBLE_AUC_BOUND if name == NOT_BLESSED else BLESSED_AUC_BOUND),
        **evaluator_inputs)
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=str(root / "serving" / name))))
    return [*extra, evaluator, pusher]


def run_all(root: Path) -> list[dict]:
    from tfx import v1 as tfx

    data = write_data(root / "data")
    results = []
    for name, steps in [(BLESSED, 20), (BLESSED, SECOND_RUN_STEPS), *((name, 20) for name in PIPELINES[1:])]:
        try:
            tfx.orchestration.LocalDagRunner().run(build(name, root, data, steps))
            results.append({"pipeline": name, "error": None})
        except RuntimeError as error:
            if name != TRAINER_FAILS:
                raise
            results.append({"pipeline": name, "error": str(error)})
    return results


def compile_for_kubeflow(root: Path, spec: Path) -> None:
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    pipeline = build(KFP, root, write_data(root / "data"))
    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(default_image="stock-tfx:local", use_pipeline_spec_2_1=True),
        output_dir=str(spec.parent), output_filename=spec.name)
    runner.run(pipeline)


if __name__ == "__main__":
    if sys.argv[1] == "--compile":
        compile_for_kubeflow(Path(sys.argv[3]).resolve(), Path(sys.argv[2]).resolve())
    else:
        for result in run_all(Path(sys.argv[1]).resolve()):
            print(json.dumps(result))
