from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from openmmo import metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "metrics.md"


def exported_names():
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            suffix = "_total" if value._type == "counter" else ""
            yield value._name + suffix
        elif isinstance(value, metrics.BulkHistogram):
            yield value.name


def test_every_exported_metric_is_documented_with_base_unit_names():
    text = DOC.read_text()
    names = list(exported_names())
    assert len(names) >= 15
    for name in names:
        assert f"`{name}`" in text, name
        assert name.startswith("openmmo_")
        assert not name.endswith(("_ms", "_milliseconds", "_kb"))
