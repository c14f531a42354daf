"""Process-level metrics of openmmo.metrics."""

import gc

from prometheus_client import REGISTRY

from openmmo.metrics import watch_gc


def gc_pauses(generation: str) -> float:
    value = REGISTRY.get_sample_value("openmmo_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def test_every_collection_is_timed_once_per_generation():
    watch_gc()
    watch_gc()  # a second call must not count each collection twice
    before = [gc_pauses(g) for g in ("0", "1", "2")]
    gc.collect(2)
    gc.collect(0)
    after = [gc_pauses(g) for g in ("0", "1", "2")]
    assert after[2] - before[2] == 1
    assert after[0] - before[0] >= 1
    total = REGISTRY.get_sample_value("openmmo_gc_pause_seconds_sum", {"generation": "2"})
    assert total is not None and total > 0
