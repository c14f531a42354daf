import pytest
from pydantic import ValidationError

from openmmo.regions import RegionEndpoint, Regions

EU = RegionEndpoint(name="eu", gateway_url="https://eu.example/", networks=["10.1.0.0/16"])
US = RegionEndpoint(name="us", gateway_url="https://us.example", networks=["10.2.0.0/16"])
AP = RegionEndpoint(
    name="ap",
    gateway_url="https://ap.example",
    ping_url="https://ping.ap.example/p",
    networks=["10.0.0.0/8", "2001:db8::/32"],
)


def regions(own="eu"):
    r = Regions(own, [EU, US, AP], down_after_s=15)
    for name in ("us", "ap"):
        r.record(name, True, now=100, rtt_ms=20)
    return r


def test_the_hint_wins_when_it_is_up():
    assert regions().choose("ap", "10.2.3.4", now=105, self_ready=True) == ("ap", "hint", [])


def test_the_network_map_picks_the_most_specific_network():
    r = regions()
    assert r.region_of("10.2.3.4") == "us"  # /16 beats ap's /8
    assert r.region_of("10.9.0.1") == "ap"
    assert r.region_of("2001:db8::1") == "ap"
    assert r.region_of("192.0.2.1") is None and r.region_of("not-an-ip") is None
    assert r.choose(None, "10.2.3.4", now=105, self_ready=True) == ("us", "network", [])


def test_without_hint_or_network_the_gateways_own_region():
    assert regions().choose(None, "192.0.2.1", now=105, self_ready=True) == ("eu", "own", [])
    assert regions().choose("mars", None, now=105, self_ready=True) == ("eu", "own", [])


def test_a_region_that_stopped_answering_is_down_and_passed_over():
    r = regions()
    r.record("us", False, now=110, rtt_ms=None, error="connection refused")
    r.record("ap", True, now=110, rtt_ms=80)
    assert r.up("us", now=115, self_ready=True)  # 15 s after its last answer: still up
    assert not r.up("us", now=116, self_ready=True)
    assert r.choose("us", "10.2.0.9", now=116, self_ready=True) == ("eu", "own", ["us"])
    # this gateway not ready either: the next in REGIONS' order
    assert r.choose("us", None, now=116, self_ready=False) == ("ap", "order", ["us", "eu"])
    listed = {
        x["name"]: x for x in r.listing(now=116, self_ready=True, own_url="https://eu.example")
    }
    assert listed["us"]["up"] is False and listed["us"]["error"] == "connection refused"
    assert listed["us"]["seconds_since_seen"] == 16
    assert listed["eu"]["this"] and listed["eu"]["up"]
    assert listed["ap"]["ping_url"] == "https://ping.ap.example/p"
    assert listed["eu"]["ping_url"] == "https://eu.example/api/ping"


def test_a_region_never_seen_is_down_and_when_all_are_there_is_no_recommendation():
    r = Regions("eu", [EU, US], down_after_s=15)
    assert r.choose(None, None, now=0, self_ready=False) == (None, None, ["eu", "us"])


def test_bad_region_lists_are_refused():
    with pytest.raises(ValueError, match="twice"):
        Regions("eu", [EU, EU], 15)
    with pytest.raises(ValueError, match="REGION 'mars'"):
        Regions("mars", [EU, US], 15)
    with pytest.raises(ValidationError):
        RegionEndpoint(name="EU West", gateway_url="https://eu.example")
    with pytest.raises(ValidationError):
        RegionEndpoint(name="eu", gateway_url="eu.example")
    with pytest.raises(ValidationError):
        RegionEndpoint(name="eu", gateway_url="https://eu.example", networks=["10.1.0.0/33"])


def test_settings_refuse_regions_without_this_processs_region(monkeypatch):
    from openmmo.config import ConfigError, load_settings

    monkeypatch.setenv("REGIONS", '[{"name": "eu", "gateway_url": "https://eu.example"}]')
    with pytest.raises(ConfigError, match="REGIONS does not list this process's REGION 'local'"):
        load_settings()
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv("REGION_DOWN_AFTER_S", "1")
    with pytest.raises(ConfigError, match="REGION_DOWN_AFTER_S is shorter"):
        load_settings()
    monkeypatch.delenv("REGION_DOWN_AFTER_S")
    assert load_settings().regions[0].ping == "https://eu.example/api/ping"


def test_without_regions_this_gateway_is_the_one_region():
    alone = Regions("local", [], down_after_s=15)
    (only,) = alone.listing(now=5, self_ready=True, own_url="http://127.0.0.1:8080")
    assert only == {
        "name": "local",
        "gateway_url": "http://127.0.0.1:8080",
        "ping_url": "http://127.0.0.1:8080/api/ping",
        "up": True,
        "this": True,
        "seconds_since_seen": 0.0,
        "probe_ms": None,
        "error": None,
    }
    assert alone.choose("eu", "10.0.0.1", now=5, self_ready=True) == ("local", "own", [])
    assert alone.choose(None, None, now=5, self_ready=False) == (None, None, ["local"])
