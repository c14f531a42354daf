import pytest

from openmmo.loadtest.scenario import (
    Scenario,
    ScenarioError,
    Stage,
    from_mapping,
    load,
    parse_duration,
    parse_threshold,
    stages_from_text,
)
from openmmo.loadtest.stats import Histogram
from openmmo.loadtest.worker import share


def test_durations():
    assert [parse_duration(t) for t in ("30s", "2m", "500ms", "1.5h", "7", 3)] == [
        30.0,
        120.0,
        0.5,
        5400.0,
        7.0,
        3.0,
    ]
    with pytest.raises(ScenarioError):
        parse_duration("soon")


def test_stages_ramp_linearly_like_k6():
    scenario = Scenario(stages=stages_from_text("10s:100,20s:100,10s:0"))
    assert [scenario.target_at(t) for t in (-1, 0, 5, 10, 25, 35, 40, 99)] == [
        0,
        0,
        50,
        100,
        100,
        50,
        0,
        0,
    ]
    assert (scenario.duration_s, scenario.peak) == (40.0, 100)
    with pytest.raises(ScenarioError):
        stages_from_text("10s")


def test_thresholds_parse_and_judge():
    p95 = parse_threshold("ack_move", "p(95)<100")
    assert (p95.stat, p95.limit) == ("p95", 100.0)
    assert p95.passes(99.9) and not p95.passes(100.0)
    assert parse_threshold("ack_chat", "p(99.9)<=5").passes(5.0)
    assert parse_threshold("errors", "rate<0.001").stat == "rate"
    for metric, expression in [
        ("ack_move", "rate<1"),
        ("errors", "p(95)<1"),
        ("speed", "p(95)<1"),
        ("ack_move", "p95 < 100"),
    ]:
        with pytest.raises(ScenarioError):
            parse_threshold(metric, expression)


def test_scenario_files(tmp_path):
    path = tmp_path / "spike.yaml"
    path.write_text("""
gateway: http://127.0.0.1:9999
zone: 2
processes: 2
stages:
  - {duration: 1m, target: 100}
  - {duration: 30s, target: 2000}
behaviour: {move_hz: 5, chat_channel: zone}
thresholds:
  ack_move: ["p(95)<100", "p(99)<500"]
  errors: rate<0.001
""")
    scenario = load(path)
    assert scenario.stages == (Stage(60.0, 100), Stage(30.0, 2000))
    assert scenario.behaviour.move_hz == 5.0 and scenario.behaviour.chat_channel == "zone"
    assert [t.expression for t in scenario.thresholds] == ["p(95)<100", "p(99)<500", "rate<0.001"]
    for bad in (
        {"stagez": []},
        {"login": "magic"},
        {"behaviour": {"chat_channel": "shout"}},
        {"stages": [{"duration": "1m"}]},
        {"processes": 0},
    ):
        with pytest.raises(ScenarioError):
            from_mapping(bad)


def test_shipped_scenarios_are_valid():
    from pathlib import Path

    shipped = sorted((Path(__file__).resolve().parents[2] / "loadtest").glob("*.yaml"))
    assert shipped
    for path in shipped:
        assert load(path).stages


def test_histogram_percentiles_within_two_percent_and_merge():
    a, b = Histogram(), Histogram()
    for ms in range(1, 101):
        (a if ms % 2 else b).record(float(ms))
    a.merge(b)
    assert a.count == 100 and a.max_ms == 100.0
    assert a.percentile(50) == pytest.approx(50, rel=0.021)
    assert a.percentile(95) == pytest.approx(95, rel=0.021)
    assert a.percentile(100) == 100.0
    assert Histogram.from_wire(a.to_wire()).percentile(95) == a.percentile(95)
    assert Histogram().percentile(95) == 0.0 and a.stat("avg") == pytest.approx(50.5)


def test_bots_are_shared_fairly_between_workers():
    assert [share(10, 3, i) for i in range(3)] == [4, 3, 3]
    assert sum(share(1001, 4, i) for i in range(4)) == 1001
