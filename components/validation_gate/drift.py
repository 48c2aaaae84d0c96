"""Drift between the current data and the data of the previous run.

ExampleValidator compares the statistics with the schema only. Drift needs the
previous statistics as well: TFDV then applies the schema's drift comparators
(L-infinity distance for categorical features, Jensen-Shannon divergence for
numeric ones) and reports every feature above its threshold. This module turns
that into anomaly rows that carry the measured distance and the threshold.
"""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.validation_gate.anomalies import AnomalyRow

DRIFT_REASONS = {
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
}
MEASURE_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity distance",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
}


def drift_anomalies(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> anomalies_pb2.Anomalies:
    """TFDV's validation of current against previous statistics (imports TFDV)."""
    import tensorflow_data_validation as tfdv

    return tfdv.validate_statistics(current, schema, previous_statistics=previous)


def drift_rows(anomalies: anomalies_pb2.Anomalies, split: str) -> list[AnomalyRow]:
    """One row per drifted feature, with the measured distance against its threshold."""
    measured = {}
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        measured[feature] = [
            f"{MEASURE_NAMES.get(m.type, 'distance')} {m.value:.3f} > threshold {m.threshold:g}"
            for m in info.drift_measurements if m.value > m.threshold
        ]
    rows = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = [reason for reason in info.reason if reason.type in DRIFT_REASONS]
        if not reasons:
            continue
        detail = "; ".join(measured.get(feature, [])) or reasons[0].description
        rows.append(AnomalyRow(
            split=split,
            feature=feature,
            severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
            kinds=tuple(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in reasons),
            short_description="Drift from the previous data",
            description=f"{detail} (compared with the previous run's statistics)",
        ))
    return rows
