"""BulkHistogram: many values at once, exposed exactly as a prometheus Histogram would."""

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from openmmo.metrics import REGISTRY, SNAPSHOT_BYTES, BulkHistogram

EDGES = (128, 256, 512, 1024, 4096)


def samples(text, name):
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == name]
    return sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples)


def test_bulk_observations_match_one_observe_per_value():
    values = [random.choice([1, 128, 129, 512, 700, 4096, 5000]) for _ in range(500)]
    bulk = BulkHistogram("bulk_test_bytes", "test", EDGES)
    try:
        bulk.observe_many("town", values[:200])
        bulk.observe_many("town", values[200:])
        bulk.observe_many("town", [])
        reference = CollectorRegistry()
        histogram = Histogram(
            "bulk_test_bytes", "test", ["zone"], buckets=EDGES, registry=reference
        )
        for value in values:
            histogram.labels("town").observe(value)
        ours = samples(generate_latest(REGISTRY).decode(), "bulk_test_bytes")
        theirs = samples(generate_latest(reference).decode(), "bulk_test_bytes")
        theirs = [s for s in theirs if not s[0].endswith("_created")]
        assert [(n, lb, float(v)) for n, lb, v in ours] == [
            (n, lb, float(v)) for n, lb, v in theirs
        ]
    finally:
        REGISTRY.unregister(bulk)


def test_the_snapshot_histogram_is_exported_with_its_zone():
    SNAPSHOT_BYTES.labels("exported-zone")
    text = generate_latest(REGISTRY).decode()
    assert 'openmmo_snapshot_bytes_bucket{le="+Inf",zone="exported-zone"} 0.0' in text
