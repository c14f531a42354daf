"""``openmmo cost-report`` against a real Prometheus backfilled with two days of a world: zone
channels coming and going with the players (on-demand and spot nodes, one in a region the
price sheet does not know), their players, seats and bytes sent. The expected figures are
computed here from the same made-up samples, with Prometheus' own rule for which sample a
query sees (the newest within the 5-minute lookback)."""

import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from openmmo.scaling.cost import report
from openmmo.scaling.models import PriceSheet, ZoneTarget
from openmmo.scaling.prometheus import Prometheus
from openmmo.testing.local import free_port
from openmmo.testing.prometheus import History, backfilled_prometheus, players

SAMPLE = 60.0
STEP = 300.0
BYTES_PER_PLAYER_S = 2000.0
SHEET = {
    "currency": "EUR",
    "regions": {"local": {"on_demand_node_hour": 0.17, "spot_node_hour": 0.06, "egress_gb": 0.09}},
    "target_per_player_hour": 0.02,
}
NOW = time.time()
END = NOW - NOW % 86_400  # midnight
START = END - 2 * 86_400
TIMES = np.arange(START - 86_400, END + 1, SAMPLE)  # a day before the range, for the rates


def world():
    """Per instance: (labels, present mask, players, seats); channels follow the players with
    20 % headroom, changing on 5-minute boundaries; channel 0 is on-demand, the rest spot."""
    instances = []
    block = (TIMES // STEP) * STEP  # values hold for a 5-minute block
    for zone, peak in (("town", 3000), ("wilds", 800)):
        load = players(block, peak, seed=3 if zone == "town" else 4)
        channels = np.clip(np.ceil(load * 1.2 / 700), 1, 10)
        for i in range(10):
            present = channels > i
            share = np.where(present, np.floor(load / np.maximum(channels, 1)), 0)
            capacity = "on-demand" if i == 0 else "spot"
            labels = {"instance": f"{zone}-{i}", "zone": zone}
            instances.append((labels, capacity, "local", present, share))
    always = np.ones(len(TIMES), dtype=bool)
    instances.append(({"instance": "mars-0", "zone": "wilds"}, "spot", "mars", always, 0 * TIMES))
    return instances


def seen(present, values, t_index):
    """What a query at sample index ``t_index`` sees: the newest sample of the last 5 minutes
    (both ends included in Prometheus 2)."""
    for j in range(t_index, t_index - 6, -1):
        if present[j]:
            return values[j]
    return None


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    history = History()
    for labels, capacity, region, present, share in world():
        t, keep = TIMES[present], present
        history.add("openmmo_players_online", labels, t, share[keep])
        history.add("openmmo_players_max", labels, t, np.full(keep.sum(), 1000.0))
        info = {"instance": labels["instance"], "region": region, "capacity_type": capacity}
        history.add("openmmo_node_info", info, t, np.ones(keep.sum()))
        sent = np.cumsum(share * BYTES_PER_PLAYER_S * SAMPLE)
        history.add("openmmo_sent_bytes", labels, t, sent[keep], kind="counter")
    with backfilled_prometheus(tmp_path_factory.mktemp("prometheus"), history) as url:
        yield url


def expected():
    grid = np.arange(START, START + (int((END - START) // STEP)) * STEP, STEP)
    index = np.searchsorted(TIMES, grid)
    compute = players_seen = seats = 0.0
    egress_bytes = unpriced_hours = 0.0
    for _, capacity, region, present, share in world():
        for i in index:
            value = seen(present, share, i)
            if value is None:
                continue
            if region == "local":
                compute += (0.17 if capacity == "on-demand" else 0.06) * STEP / 3600
            else:
                unpriced_hours += STEP / 3600
            players_seen += value * STEP / 3600
            seats += 1000 * STEP / 3600
            egress_bytes += value * BYTES_PER_PLAYER_S * STEP
    return compute, players_seen, seats, egress_bytes / 1e9, unpriced_hours


def test_the_report_adds_up_what_ran(prometheus):
    compute, player_hours, seat_hours, egress_gb, unpriced = expected()
    sheet = PriceSheet(**SHEET)
    with Prometheus(prometheus) as client:
        result = report(client, sheet, START, END, STEP)
    f = result.figures
    assert f["currency"] == "EUR" and f["hours"] == 48
    assert f["compute_cost"] == pytest.approx(compute, rel=1e-3)
    assert f["player_hours"] == pytest.approx(player_hours, rel=1e-3)
    assert f["idle_capacity"] == pytest.approx(1 - player_hours / seat_hours, abs=1e-3)
    assert f["egress_gb"] == pytest.approx(egress_gb, rel=0.05)  # rate() extrapolates
    assert f["egress_cost"] == pytest.approx(f["egress_gb"] * 0.09, rel=1e-3)
    assert f["cost"] == pytest.approx(f["compute_cost"] + f["egress_cost"], abs=1e-3)
    assert f["cost_per_player_hour"] == pytest.approx(f["cost"] / player_hours, rel=1e-3)
    assert f["unpriced"] == {"mars/spot": pytest.approx(unpriced, rel=1e-3)}
    assert 0 < f["wasted_cost"] < f["compute_cost"]


def test_channels_that_followed_the_players_are_compared_with_the_reactive_hpa(prometheus):
    targets = [ZoneTarget(zone="town"), ZoneTarget(zone="wilds")]
    with Prometheus(prometheus) as client:
        result = report(client, PriceSheet(**SHEET), START, END, STEP, targets)
    zones = {z["zone"]: z for z in result.zones}
    town = zones["town"]
    # channels ran with 20 % headroom: never short; the reactive HPA is short on every ramp
    assert town["under_capacity_minutes"] == 0
    assert town["reactive_under_capacity_minutes"] > 0
    assert town["under_capacity_minutes_avoided"] == town["reactive_under_capacity_minutes"]
    assert town["pod_hours"] > town["reactive_pod_hours"]  # the headroom costs pod-hours
    assert town["saved"] < 0  # ... and money: the report says so instead of hiding it
    assert result.figures["predictive_saved"] == pytest.approx(
        sum(z["saved"] for z in result.zones), abs=1e-3
    )


def cost_report(*args, prices=SHEET):
    env = {**os.environ, "COST_PRICES": json.dumps(prices) if prices else ""}
    if not prices:
        env.pop("COST_PRICES")
    return subprocess.run(
        [sys.executable, "-m", "openmmo", "cost-report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_command_prints_and_writes_json_and_html(prometheus, tmp_path):
    since = datetime.fromtimestamp(START, UTC)
    result = cost_report(
        "--prometheus",
        prometheus,
        "--from",
        since.isoformat(),
        "--to",
        str(END),
        "--report-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "cost_per_player_hour" in result.stdout and "EUR" in result.stdout
    written = json.loads((tmp_path / "cost.json").read_text())
    assert written["figures"]["hours"] == 48
    assert {z["zone"] for z in written["zones"]} == {"town", "wilds"}
    page = (tmp_path / "cost.html").read_text()
    assert "cost per player-hour" in page and "plotly" in page and "<h2>zones</h2>" in page


@pytest.mark.parametrize(
    ("args", "prices", "message"),
    [
        (["--from", "10", "--to", "5"], SHEET, "--to must be after --from"),
        (["--from", "0", "--to", "100"], None, "COST_PRICES is not set"),
        (
            ["--from", "0", "--to", "1000"],
            {**SHEET, "regions": {"local": {"on_demand_node_hour": -1, "egress_gb": 0}}},
            "COST_PRICES.regions.local.on_demand_node_hour",
        ),
        (["--from", "0", "--to", "1000"], {**SHEET, "currency": "EURO"}, "unknown currency"),
        (["--from", "yesterday", "--to", "1000"], SHEET, "is not a time"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(prometheus, args, prices, message):
    result = cost_report("--prometheus", prometheus, *args, prices=prices)
    assert result.returncode == 2
    assert message in result.stderr


def test_prometheus_unreachable_is_reported():
    result = cost_report(
        "--prometheus", f"http://127.0.0.1:{free_port()}", "--from", "0", "--to", "1000"
    )
    assert result.returncode == 2 and "unreachable" in result.stderr


def test_a_range_without_players_has_no_cost_per_player_hour(prometheus):
    with Prometheus(prometheus) as client:
        result = report(client, PriceSheet(**SHEET), START - 30 * 86_400, START - 29 * 86_400)
    assert result.figures["player_hours"] == 0
    assert result.figures["cost_per_player_hour"] is None
    assert not math.isnan(result.figures["cost"]) and result.figures["cost"] == 0
