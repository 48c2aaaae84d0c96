"""`schema infer`: what TFDV infers from some data, compared with the curated schema.

The curated schema in schemas/ is reviewed by hand. When the data changes, a
person runs this to see how it differs, and decides what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2


@dataclass(frozen=True)
class SchemaDifference:
    feature: str
    kind: str
    detail: str

    def one_line(self) -> str:
        return f"{self.feature}: {self.kind} — {self.detail}"


def infer_from_csv(pattern: str) -> tuple[schema_pb2.Schema, statistics_pb2.DatasetFeatureStatistics]:
    """Runs TFDV's statistics and schema inference on the files matching a glob (imports TF)."""
    import tensorflow_data_validation as tfdv

    statistics = tfdv.generate_statistics_from_csv(pattern)
    return tfdv.infer_schema(statistics), statistics.datasets[0]


def compare(curated: schema_pb2.Schema, inferred: schema_pb2.Schema,
            statistics: statistics_pb2.DatasetFeatureStatistics) -> list[SchemaDifference]:
    """Differences a reviewer must decide on: columns, types, categories, numeric ranges."""
    curated_features = {f.name: f for f in curated.feature}
    inferred_features = {f.name: f for f in inferred.feature}
    differences = []
    for name in sorted(set(inferred_features) - set(curated_features)):
        kind = schema_pb2.FeatureType.Name(inferred_features[name].type)
        differences.append(SchemaDifference(name, "new column", f"{kind} in the data, not in the schema"))
    for name in sorted(set(curated_features) - set(inferred_features)):
        differences.append(SchemaDifference(name, "missing column", "in the schema, not in the data"))
    stats = {s.path.step[0] if s.path.step else s.name: s for s in statistics.features}
    domains = {d.name: set(d.value) for d in curated.string_domain}
    for name in sorted(set(curated_features) & set(inferred_features)):
        expected, found = curated_features[name], inferred_features[name]
        # A column empty in every row (pickup_census_tract in most samples) is
        # inferred as BYTES; no values say nothing about the type.
        if expected.type != found.type and _has_values(stats.get(name)):
            differences.append(SchemaDifference(name, "type", f"schema says "
                               f"{schema_pb2.FeatureType.Name(expected.type)}, data has "
                               f"{schema_pb2.FeatureType.Name(found.type)}"))
        differences.extend(_domain_differences(expected, stats.get(name), domains))
    return differences


def _has_values(stats) -> bool:
    if stats is None:
        return False
    kind = stats.WhichOneof("stats")
    common = getattr(stats, kind).common_stats if kind else None
    return bool(common and common.num_non_missing)


def _domain_differences(feature, stats, domains) -> list[SchemaDifference]:
    if stats is None:
        return []
    result = []
    if feature.HasField("domain") and stats.HasField("string_stats"):
        seen = {bucket.label for bucket in stats.string_stats.rank_histogram.buckets}
        unexpected = sorted(seen - domains.get(feature.domain, set()))
        if unexpected:
            result.append(SchemaDifference(feature.name, "new values", ", ".join(unexpected)))
    if stats.HasField("num_stats"):
        low, high = stats.num_stats.min, stats.num_stats.max
        bounds = feature.int_domain if feature.HasField("int_domain") else (
            feature.float_domain if feature.HasField("float_domain") else None)
        if bounds is not None:
            name = feature.name
            if bounds.HasField("min") and low < bounds.min:
                result.append(SchemaDifference(name, "below domain", f"min {low:g} < {bounds.min:g}"))
            if bounds.HasField("max") and high > bounds.max:
                result.append(SchemaDifference(name, "above domain", f"max {high:g} > {bounds.max:g}"))
    return result


@dataclass(frozen=True)
class DriftRow:
    """The largest distance one feature moved between consecutive spans, under its comparator."""

    feature: str
    comparator: str
    threshold: float | None  # None: the schema has no comparator; measured with the default one
    largest: float
    between: str

    @property
    def within(self) -> bool:
        return self.threshold is None or self.largest <= self.threshold


def consecutive_drift(folders: list, schema: schema_pb2.Schema) -> list[DriftRow]:
    """TFDV's drift distance of every feature between each span and the one before it (imports TF).

    Features with a comparator are measured with it; the others with the
    default one for their type (L-infinity for strings, Jensen-Shannon for
    numbers), so that a reviewer sees what a comparator would see.
    """
    import tensorflow_data_validation as tfdv

    probe, thresholds = _measuring_schema(schema)
    statistics = [tfdv.generate_statistics_from_csv(f"{folder}/*.csv") for folder in folders]
    largest: dict[str, tuple[float, str]] = {}
    pairs = zip(folders[:-1], folders[1:], statistics[:-1], statistics[1:], strict=True)
    for before, after, stats_before, stats_after in pairs:
        anomalies = tfdv.validate_statistics(stats_after, probe, previous_statistics=stats_before)
        for info in anomalies.drift_skew_info:
            name = ".".join(info.path.step)
            for measurement in info.drift_measurements:
                if measurement.value >= largest.get(name, (-1.0, ""))[0]:
                    largest[name] = (measurement.value, f"{before.name} → {after.name}")
    return [DriftRow(name, thresholds[name][0], thresholds[name][1], value, between)
            for name, (value, between) in sorted(largest.items())]


def unmeasured_features(schema: schema_pb2.Schema, rows: list[DriftRow]) -> list[str]:
    """The schema's features TFDV measured no distance for (no values to compare in any two spans)."""
    measured = {row.feature for row in rows}
    return sorted(feature.name for feature in schema.feature if feature.name not in measured)


def _measuring_schema(schema: schema_pb2.Schema):
    """A copy of the schema whose comparators all have threshold 0, so TFDV reports every distance."""
    probe = schema_pb2.Schema()
    probe.CopyFrom(schema)
    thresholds: dict[str, tuple[str, float | None]] = {}
    for feature in probe.feature:
        comparator = feature.drift_comparator
        if comparator.HasField("infinity_norm"):
            thresholds[feature.name] = ("L-infinity", comparator.infinity_norm.threshold)
        elif comparator.HasField("jensen_shannon_divergence"):
            thresholds[feature.name] = ("Jensen-Shannon", comparator.jensen_shannon_divergence.threshold)
        elif feature.type == schema_pb2.BYTES:
            thresholds[feature.name] = ("L-infinity", None)
        else:
            thresholds[feature.name] = ("Jensen-Shannon", None)
        feature.ClearField("drift_comparator")
        if thresholds[feature.name][0] == "L-infinity":
            feature.drift_comparator.infinity_norm.threshold = 0.0
        else:
            feature.drift_comparator.jensen_shannon_divergence.threshold = 0.0
    return probe, thresholds
