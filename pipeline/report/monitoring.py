"""Prometheus export: one text-format file per pipeline, rewritten after every run.

node_exporter's textfile collector reads ``*.prom`` files from a folder; point
it at ``monitoring.textfile_dir``. The file is written atomically by
prometheus_client, so the collector never reads half a file.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from pipeline.metadata.outcome import RunOutcome

PREFIX = "taxi_tfx"


def write_run_metrics(summary: RunOutcome, pipeline_name: str, path: Path) -> Path:
    """Writes the run's evaluation, data and timing figures to path (OutputLayout.metrics_file)."""
    registry = CollectorRegistry()
    labels = {"pipeline": pipeline_name}
    info = Gauge(f"{PREFIX}_run_info", "The pipeline run these figures come from (value 1).",
                 ["pipeline", "run_id"], registry=registry)
    info.labels(run_id=summary.run_id, **labels).set(1)
    Gauge(f"{PREFIX}_anomalies", "Anomalies ExampleValidator found in the run's data.",
          ["pipeline"], registry=registry).labels(**labels).set(len(summary.anomalies))
    seconds = Gauge(f"{PREFIX}_component_seconds", "Wall time of each component execution.",
                    ["pipeline", "component", "state"], registry=registry)
    for item in summary.components:
        seconds.labels(component=item.component, state=item.state, **labels).set(item.seconds)
    if summary.verdict is not None:
        Gauge(f"{PREFIX}_blessed", "1 when the run's model passed the release verdict.",
              ["pipeline"], registry=registry).labels(**labels).set(int(summary.verdict["blessed"]))
        metric = Gauge(f"{PREFIX}_eval_metric", "TFMA metric of the candidate model per slice.",
                       ["pipeline", "slice", "metric"], registry=registry)
        for slice_name, values in summary.verdict["slices"].items():
            for name, value in values.items():
                if value is not None:
                    metric.labels(slice=slice_name, metric=name, **labels).set(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    return path
